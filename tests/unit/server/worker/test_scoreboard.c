/*
 * test_scoreboard.c - accept balancing through the scoreboard
 * (server/worker/scoreboard.c): the rule, and the decision a worker takes from
 * its siblings' shares.  Each simulated worker is a slot of a real board;
 * sp__sb_attach switches the process between them, which a worker never
 * does but a test may.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

#include "server/worker/scoreboard.h"

#define KEY 0x5eed

static sp__scoreboard *sb;

static void setup(void)
{
    sb = sp__sb_create(4, 1);
    cr_assert_not_null(sb);
    for (int id = 1; id <= 6; id++)
        cr_assert_eq(sp__sb_slot_take(sb, id), id - 1);
}

static void teardown(void)
{
    sp__sb_destroy(sb);
}

/* Worker `slot` joins on key with conns open, accepting or not. */
static void worker(int slot, uint64_t key, uint32_t conns, bool accepting)
{
    sp__sb_attach(sb, (size_t)slot, slot + 1, 1);
    sp__sb_share_key(key);
    sp__sb_share_set(conns, accepting);
}

static bool leaves(int slot)
{
    sp__sb_attach(sb, (size_t)slot, slot + 1, 1);
    return sp__sb_leave_to_sibling();
}

Test(rule, a_lone_worker_never_holds_more)
{
    cr_assert_not(sp__sb_clearly_more(1000, 0, 1000, 1));
    cr_assert_not(sp__sb_clearly_more(5, 0, 5, 0));
}

Test(rule, slack_is_one_for_few_connections)
{
    cr_assert_not(sp__sb_clearly_more(1, 0, 1, 2));
    cr_assert(sp__sb_clearly_more(2, 0, 2, 2));
    cr_assert_not(sp__sb_clearly_more(3, 2, 5, 2));
}

Test(rule, slack_grows_with_the_mean)
{
    /* 2 workers, 64 connections: mean 32, slack 32 / 16 + 1 = 3 */
    cr_assert_not(sp__sb_clearly_more(34, 31, 65, 2));
    cr_assert(sp__sb_clearly_more(35, 31, 66, 2));
    /* 2 workers, about 1,050 connections: mean 529, slack 529 / 16 + 1 = 34 */
    cr_assert_not(sp__sb_clearly_more(546, 512, 1058, 2));
    cr_assert(sp__sb_clearly_more(547, 512, 1059, 2));
}

Test(share, a_lone_worker_accepts_everything, .init = setup, .fini = teardown)
{
    worker(0, KEY, 10000, true);
    cr_assert_not(leaves(0));
}

Test(share, leaves_to_an_accepting_sibling_with_fewer, .init = setup, .fini = teardown)
{
    worker(1, KEY, 10, true);
    worker(0, KEY, 20, true);
    cr_assert(leaves(0));
    cr_assert_not(leaves(1));
}

Test(share, never_to_a_sibling_that_is_not_accepting, .init = setup, .fini = teardown)
{
    worker(1, KEY, 10, false); /* queue full, max-connections, descriptors */
    worker(0, KEY, 20, true);
    cr_assert_not(leaves(0));
}

Test(share, never_to_a_sibling_whose_loop_stopped_beating, .init = setup, .fini = teardown)
{
    worker(1, KEY, 10, true);
    worker(0, KEY, 20, true);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    atomic_store(&sp__sb_slot_at(sb, 1)->share.beat_ms, now - 2 * SP__SB_BEAT_STALE_MS);
    cr_assert_not(leaves(0));
}

Test(share, workers_on_other_sockets_do_not_count, .init = setup, .fini = teardown)
{
    worker(1, KEY + 1, 0, true); /* another generation's listeners */
    worker(0, KEY, 20, true);
    cr_assert_not(leaves(0));
}

Test(share, a_stopping_worker_is_out_of_the_pool, .init = setup, .fini = teardown)
{
    worker(1, KEY, 10, true);
    worker(1, 0, 10, false); /* graceful stop */
    worker(0, KEY, 20, true);
    cr_assert_not(leaves(0));
}

Test(share, a_new_worker_takes_the_new_connections, .init = setup, .fini = teardown)
{
    worker(0, KEY, 30, true);
    worker(1, KEY, 30, true);
    worker(2, KEY, 0, true); /* TTIN, or a recycled worker's replacement */
    cr_assert(leaves(0));
    cr_assert(leaves(1));
    cr_assert_not(leaves(2));
}

/* Offer n connections one by one to the workers in a random order, as the
 * kernel wakes them; the first that does not leave it takes it. */
static void burst(int workers, int n, const bool *accepting, uint32_t *conns)
{
    unsigned seed = 6;
    for (int w = 0; w < workers; w++)
        worker(w, KEY, conns[w], accepting[w]);
    for (int c = 0; c < n; c++) {
        int order[8], taken = -1;
        for (int w = 0; w < workers; w++)
            order[w] = w;
        for (int w = workers - 1; w > 0; w--) {
            int j = rand_r(&seed) % (w + 1), t = order[w];
            order[w] = order[j], order[j] = t;
        }
        for (int k = 0; k < workers && taken < 0; k++)
            if (accepting[order[k]] && !leaves(order[k]))
                taken = order[k];
        cr_assert_geq(taken, 0, "connection %d was left to nobody", c);
        conns[taken]++;
        worker(taken, KEY, conns[taken], true);
    }
}

Test(share, a_burst_is_split_within_the_slack, .init = setup, .fini = teardown)
{
    for (int workers = 2; workers <= 6; workers += 2) {
        bool accepting[6] = {true, true, true, true, true, true};
        uint32_t conns[6] = {0};
        burst(workers, 64 * workers, accepting, conns);
        uint32_t lo = conns[0], hi = conns[0];
        for (int w = 1; w < workers; w++)
            lo = conns[w] < lo ? conns[w] : lo, hi = conns[w] > hi ? conns[w] : hi;
        cr_assert_leq(hi - lo, 64 / 16 + 2, "%d workers: %u..%u", workers, lo, hi);
    }
}

Test(share, a_paused_worker_never_stops_the_others, .init = setup, .fini = teardown)
{
    bool accepting[4] = {true, false, true, false};
    uint32_t conns[4] = {0};
    burst(4, 200, accepting, conns);
    cr_assert_eq(conns[0] + conns[2], 200);
    cr_assert_eq(conns[1] + conns[3], 0);
}
