/*
 * emit.c - everything conf/ writes for people: --help, -T (the effective
 * config) and the documented example server.ini.
 *
 * All three are generated from the option table so they cannot drift from
 * what the parser accepts.  -T writes a valid ini that reads back to the
 * same config (tested), which is why paths come out absolute and unix
 * listen paths are written resolved rather than as first typed.  The
 * example is byte for byte the shipped conf/server.ini (also tested), so
 * changing a help string means regenerating that file with
 * "spindle --print-example-ini > conf/server.ini".
 */
#include <string.h>

#include "conf/options.h"

#define WIDTH 78

/* Write text word-wrapped at WIDTH: first on the first line, indent on the
 * others.  Runs of spaces inside a line are kept (two after a full stop). */
static void wrap(FILE *out, const char *first, const char *indent, const char *text)
{
    size_t col = strlen(first), ind = strlen(indent);
    int fresh = 1; /* nothing written on this line yet */

    fputs(first, out);
    while (*text) {
        size_t gap = strspn(text, " "), word;

        text += gap;
        word = strcspn(text, " ");
        if (word == 0)
            break;
        if (!fresh && col + gap + word > WIDTH) {
            fprintf(out, "\n%s", indent);
            col = ind;
            fresh = 1;
        }
        if (!fresh) {
            fprintf(out, "%*s", (int)gap, "");
            col += gap;
        }
        fwrite(text, 1, word, out);
        col += word;
        text += word;
        fresh = 0;
    }
    fputc('\n', out);
}

/* The help text of opt, followed by what it accepts. */
static void describe(FILE *out, const sp__option *opt, const char *first, const char *indent)
{
    char acc[160], text[1024];
    const char *a = sp__option_accepted(opt, acc, sizeof acc);

    snprintf(text, sizeof text, "%s  Accepted: %s.%s", opt->help, a,
             sp__option_is_list(opt) ? "  Repeatable." : "");
    wrap(out, first, indent, text);
}

/* ---- --help --------------------------------------------------------------- */

static const char *metavar(const sp__option *opt)
{
    switch (opt->type) {
    case SP__T_INT:
        return " N";
    case SP__T_BOOL:
        return "[=BOOL]";
    case SP__T_SIZE:
        return " SIZE";
    case SP__T_DURATION:
        return " TIME";
    case SP__T_MODE:
        return " MODE";
    case SP__T_ENUM:
        return " LEVEL";
    case SP__T_STRING:
        return " TEXT";
    case SP__T_ZONE:
        return " ZONE";
    case SP__T_PATH:
        return " PATH";
    case SP__T_LISTEN:
        return " ADDR";
    case SP__T_MODULE:
        return " PATH";
    case SP__T_MIDDLEWARE:
        return " NAME";
    case SP__T_ROUTE:
        return " 'METHOD /path module:symbol'";
    case SP__T_CIDRS:
        return " 'ADDR/N, ...'";
    case SP__T_NAME:
        return " NAME";
    }
    return "";
}

static void help_section(FILE *out, enum sp__opt_section sec)
{
    size_t n;
    const sp__option *opts = sp__options(&n);

    fprintf(out, "\n[%s] options:\n", sp__section_name(sec));
    for (size_t i = 0; i < n; i++) {
        const sp__option *o = &opts[i];

        if (o->section != sec)
            continue;
        fprintf(out, "  --%s%s", o->key, metavar(o));
        if (o->dflt)
            fprintf(out, "  (default %s)", o->dflt);
        fputc('\n', out);
        describe(out, o, "      ", "      ");
    }
}

void sp__config_usage(FILE *out, const char *argv0)
{
    fprintf(
        out,
        "usage: %s [server.ini] [--ini FILE] [--KEY VALUE ...]   serve\n"
        "       spindle -t server.ini      check everything a start does (modules loaded and\n"
        "                                  initialised), exit 0 or %d with the reason\n"
        "       spindle -T server.ini      print the effective configuration as ini\n"
        "       spindle ctl --control unix:PATH reload|chain-reload|stop|workers +N|workers "
        "-N|stats\n"
        "                                  talk to a running master through its control socket\n"
        "       spindle new NAME [DIR]     make a module project in DIR (default ./NAME) that\n"
        "                                  builds against the installed SDK and tests itself\n"
        "       spindle dev [server.ini] [--project DIR] [--build-dir DIR] [--KEY VALUE ...]\n"
        "                                  serve; on each save rebuild (cmake --build) and reload\n"
        "       spindle --print-example-ini | -h, --help | -v, --version\n",
        argv0 ? argv0 : "spindle", SP__EX_CONFIG);
}

void sp__config_help(FILE *out, const char *argv0)
{
    sp__config_usage(out, argv0);
    fprintf(
        out,
        "\n"
        "Every [server], [app] and [tasks] key is also an option, applied after the\n"
        "ini file: --key value or --key=value; a bool option alone means true.  A single-valued\n"
        "key given here wins over the file; listen, module, middleware and route add\n"
        "to the file's.  Configuration errors exit with status %d.\n",
        SP__EX_CONFIG);
    help_section(out, SP__SEC_SERVER);
    help_section(out, SP__SEC_APP);
    help_section(out, SP__SEC_TASKS);
}

/* ---- -T ----------------------------------------------------------------- */

/* The i-th of "a|b|c", copied into buf. */
static const char *choice_text(const char *choices, int i, char *buf, size_t len)
{
    for (; i > 0 && *choices; i--) {
        size_t n = strcspn(choices, "|");

        choices += n + (choices[n] == '|');
    }
    snprintf(buf, len, "%.*s", (int)strcspn(choices, "|"), choices);
    return buf;
}

/* The value of a single-valued option as server.ini text; NULL if unset. */
static const char *scalar_text(const sp__config *cfg, const sp__option *o, char *buf, size_t len)
{
    const char *at = (const char *)cfg + o->offset;

    switch (o->type) {
    case SP__T_STRING:
    case SP__T_ZONE:
    case SP__T_PATH:
    case SP__T_CIDRS: /* sp__cidr_list starts with its text */
    case SP__T_NAME:
        return *(char *const *)at;
    case SP__T_SIZE:
        sp__format_size(*(const size_t *)at, buf, len);
        return buf;
    case SP__T_DURATION:
        sp__format_duration(*(const int *)at, buf, len);
        return buf;
    case SP__T_MODE:
        if (*(const int *)at < 0)
            return NULL;
        snprintf(buf, len, "0%o", (unsigned)*(const int *)at);
        return buf;
    case SP__T_BOOL:
        return *(const int *)at ? "true" : "false";
    case SP__T_ENUM:
        return choice_text(o->choices, *(const int *)at, buf, len);
    default:
        if (o->type == SP__T_INT && o->choices != NULL && *(const int *)at == 0)
            return o->choices; /* the word that stands for 0: "auto" */
        snprintf(buf, len, "%d", *(const int *)at);
        return buf;
    }
}

/* "key = value", or "; key =" when unset. */
static void print_scalar(FILE *out, const sp__config *cfg, const sp__option *o)
{
    char buf[64];
    const char *v = scalar_text(cfg, o, buf, sizeof buf);

    if (v)
        fprintf(out, "%s = %s\n", o->key, v);
    else
        fprintf(out, "; %s =\n", o->key);
}

static void print_list(FILE *out, const sp__config *cfg, const sp__option *o)
{
    for (size_t i = 0; o->type == SP__T_LISTEN && i < cfg->n_listen; i++) {
        const sp__listen *l = &cfg->listen[i];

        if (l->kind == SP__LISTEN_UNIX)
            fprintf(out, "listen = %sunix:%s\n", l->proto == SP__PROTO_UWSGI ? "uwsgi://" : "",
                    l->path);
        else
            fprintf(out, "listen = %s\n", l->text);
    }
    for (size_t i = 0; o->type == SP__T_MODULE && i < cfg->n_modules; i++)
        fprintf(out, "module = %s\n", cfg->modules[i].value);
    for (size_t i = 0; o->type == SP__T_MIDDLEWARE && i < cfg->n_middleware; i++)
        fprintf(out, "middleware = %s\n", cfg->middleware[i].value);
    for (size_t i = 0; o->type == SP__T_ROUTE && i < cfg->n_routes; i++) {
        const sp__route_spec *r = &cfg->routes[i];

        fprintf(out, "route = %s %s %s:%s\n", r->method, r->pattern, r->module, r->symbol);
    }
}

void sp__config_print(const sp__config *cfg, FILE *out)
{
    size_t n;
    const sp__option *opts = sp__options(&n);

    fputs("; spindle's effective configuration (spindle -T)\n", out);
    for (int sec = SP__SEC_SERVER; sec <= SP__SEC_TASKS; sec++) {
        fprintf(out, "\n[%s]\n", sp__section_name((enum sp__opt_section)sec));
        for (size_t i = 0; i < n; i++) {
            if (opts[i].section != (enum sp__opt_section)sec)
                continue;
            if (sp__option_is_list(&opts[i]))
                print_list(out, cfg, &opts[i]);
            else
                print_scalar(out, cfg, &opts[i]);
        }
    }
    if (cfg->n_cron)
        fputs("\n[cron]\n", out);
    for (size_t i = 0; i < cfg->n_cron; i++)
        fprintf(out, "%s\n", cfg->cron[i].value);
    for (size_t i = 0; i < cfg->n_sections; i++) {
        const struct sp_section *s = &cfg->sections[i];

        fprintf(out, "\n[module:%s]\n", s->name);
        for (size_t j = 0; j < s->n_items; j++)
            fprintf(out, "%s = %s\n", s->items[j].key, s->items[j].value);
    }
}

/* ---- --print-example-ini -------------------------------------------------- */

static void example_option(FILE *out, const sp__option *o)
{
    const char *ex = o->example;

    fputc('\n', out);
    describe(out, o, "; ", "; ");
    if (!ex) {
        fprintf(out, "; %s =%s%s\n", o->key, o->dflt ? " " : "", o->dflt ? o->dflt : "");
        return;
    }
    while (*ex) {
        size_t len = strcspn(ex, "\n");

        fprintf(out, "%s = %.*s\n", o->key, (int)len, ex);
        ex += len + (ex[len] == '\n');
    }
}

void sp__config_example(FILE *out)
{
    size_t n;
    const sp__option *opts = sp__options(&n);

    fputs("; server.ini - spindle's configuration, with every option documented.\n"
          ";\n"
          "; This file is what \"spindle --print-example-ini\" prints.  Lines starting\n"
          "; with ';' or '#' are comments; a commented-out key shows its default.\n"
          ";\n"
          "; key = value; a bare key means true.  listen, module, middleware and route\n"
          "; add up when repeated; any other key keeps its last value.  $(VAR) expands\n"
          "; from the environment.  include = other.ini reads another file in place.\n"
          "; Sizes take k, m or g (1024-based); durations are seconds, or take ms, s\n"
          "; or m; relative paths start at this file's folder.  Every key is also a\n"
          "; command-line option (--threads 16), applied after this file.\n",
          out);
    for (int sec = SP__SEC_SERVER; sec <= SP__SEC_TASKS; sec++) {
        fprintf(out, "\n[%s]\n", sp__section_name((enum sp__opt_section)sec));
        for (size_t i = 0; i < n; i++)
            if (opts[i].section == (enum sp__opt_section)sec)
                example_option(out, &opts[i]);
    }
    fputs("\n; [cron] lines run a module's function on a schedule, once per due time\n"
          "; across the whole server (a spooler runs it): [SEC] MIN HOUR DOM MON DOW\n"
          "; module:function, with lists, ranges, steps and jan/mon names.\n"
          "[cron]\n"
          "; 0 3 * * * reports:nightly\n",
          out);
    fputs("\n; [module:NAME] holds a module's own settings, as key = value lines the\n"
          "; module reads itself.  The access_log middleware's:\n"
          "[module:access_log]\n"
          "; file = /var/log/spindle/access.log\n",
          out);
}
