/*
 * test_loop.c - the cost table behind quick requests (server/worker/loop.c): a
 * route's recent run time decides whether the IO loop's thread runs it
 * itself, so the average must follow a route that turns slow within a few
 * requests, come back when it is fast again, and keep routes apart; the
 * watch moves the loop only off a thread that is stuck.  (The hand-over
 * itself is tested on the real server: tests/integration/test_loop.py.)
 */
#include <criterion/criterion.h>
#include <string.h>

#include "server/worker/worker.h"

static sp__worker w;

static void setup(void)
{
    memset(&w, 0, sizeof(w));
    cr_assert_eq(sp__loop_init(&w.loop), 0);
}

static void teardown(void)
{
    sp__loop_destroy(&w.loop);
}

#define SEQ 4 /* one request more in the loop's word (loop.c's SEQ_ONE) */

static unsigned cost(unsigned slot)
{
    return atomic_load(&w.loop.cost_us[slot]);
}

TestSuite(loop, .init = setup, .fini = teardown);

Test(loop, a_route_that_turns_slow_is_slow_within_a_few_requests)
{
    for (int i = 0; i < 100; i++)
        sp__loop_note(&w, 5, 3);
    cr_assert_lt(cost(5), SP__LOOP_QUICK_US);
    int n = 0;
    while (cost(5) < SP__LOOP_QUICK_US && n < 100)
        sp__loop_note(&w, 5, 10000), n++; /* 10 ms runs */
    cr_assert_gt(n, 1, "one slow run made the route slow");
    cr_assert_leq(n, 4);
    for (int i = 0; i < 20; i++)
        sp__loop_note(&w, 5, 10000);
    n = 0;
    while (cost(5) >= SP__LOOP_QUICK_US && n < 100)
        sp__loop_note(&w, 5, 3), n++;
    /* ...and quick again after some fast runs, not after one */
    cr_assert_gt(n, 1);
    cr_assert_lt(n, 20);
}

Test(loop, a_quick_route_that_lost_its_cpu_once_stays_quick)
{
    for (int i = 0; i < 100; i++)
        sp__loop_note(&w, 6, 5);
    sp__loop_note(&w, 6, 4000); /* preempted for 4 ms on a busy machine */
    cr_assert_lt(cost(6), SP__LOOP_QUICK_US);
}

Test(loop, one_huge_sample_does_not_stick)
{
    sp__loop_note(&w, 7, UINT64_MAX); /* capped, no overflow */
    cr_assert_leq(cost(7), 2 * SP__LOOP_QUICK_US);
    int n = 0;
    while (cost(7) >= SP__LOOP_QUICK_US && n < 1000)
        sp__loop_note(&w, 7, 1), n++;
    cr_assert_lt(n, 5);
}

Test(loop, the_watch_takes_the_loop_from_a_stuck_thread_only)
{
    const uint64_t ms = 1000000, word = 4 << 2 | 1, next = 5 << 2 | 1;
    /* asleep (a lock, IO, a sleep), stopped, or unknown: stuck at once */
    cr_assert(sp__loop_stalled(&w.loop, word, 'S', 0));
    cr_assert(sp__loop_stalled(&w.loop, word, 'D', 0));
    cr_assert(sp__loop_stalled(&w.loop, word, 0, 0));
    /* runnable: first seen, then judged by the CPU it used in between */
    cr_assert_not(sp__loop_stalled(&w.loop, word, 'R', 10 * ms));
    cr_assert_not(sp__loop_stalled(&w.loop, word, 'R', 10 * ms + ms / 10),
                  "a thread waiting for a CPU lost the loop");
    cr_assert(sp__loop_stalled(&w.loop, word, 'R', 10 * ms + SP__LOOP_WATCH_MS * ms),
              "a thread computing through a look kept the loop");
    /* another request starts the count again */
    cr_assert_not(sp__loop_stalled(&w.loop, next, 'R', 20 * ms));
}

Test(loop, a_serial_request_may_compute_longer_but_not_sleep)
{
    const uint64_t ms = 1000000, word = 4 << 2 | 1;
    atomic_store(&w.loop.run_serial, true);
    uint64_t cpu = 10 * ms;
    cr_assert_not(sp__loop_stalled(&w.loop, word, 'R', cpu));
    int looks = 1;
    for (; looks < 100; looks++) {
        cpu += SP__LOOP_WATCH_MS * ms; /* computing through every look */
        if (sp__loop_stalled(&w.loop, word, 'R', cpu))
            break;
    }
    cr_assert_eq(looks, SP__LOOP_SERIAL_RUN_MS / SP__LOOP_WATCH_MS,
                 "a serial request computing lost the loop after %d looks", looks);
    /* asleep (IO, a sleep, a lock let go): caught at once, serial or not */
    cr_assert(sp__loop_stalled(&w.loop, word + SEQ, 'S', 0));
}

Test(loop, slots_keep_routes_apart)
{
    for (int i = 0; i < 10; i++)
        sp__loop_note(&w, 3, 50000);
    cr_assert_geq(cost(3), SP__LOOP_QUICK_US);
    for (unsigned s = 0; s < SP__LOOP_SLOTS; s++)
        if (s != 3)
            cr_assert_eq(cost(s), 0, "slot %u", s);
}

Test(loop, a_request_is_slotted_by_its_route)
{
    sp__match m1 = {.pattern = "/a/{id}"}, m2 = {.pattern = "/b"};
    sp_request r = {0};
    cr_assert_eq(sp__loop_slot(&r), 0); /* not routed */
    r.match = &m1;
    r.route = SP__ROUTE_NOT_FOUND;
    cr_assert_eq(sp__loop_slot(&r), 0); /* 404 and 405: the core's own answers */
    r.route = SP__ROUTE_FOUND;
    unsigned a = sp__loop_slot(&r);
    cr_assert(a >= 1 && a < SP__LOOP_SLOTS);
    /* any path of the route: the pattern decides */
    r.path = (sp_str){"/a/42", 5};
    cr_assert_eq(sp__loop_slot(&r), a);
    r.match = &m2;
    unsigned b = sp__loop_slot(&r);
    cr_assert(b >= 1 && b < SP__LOOP_SLOTS);
}
