/* cmd_synth.c — `keyetl synth`: option parsing for the synthetic snapshot generator
 * (pipeline/synth). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/synth.h"
#include "util/pool.h"

static void synth_usage(FILE *f)
{
    fprintf(f,
            "usage: keyetl synth --users N --seed S [options] OUT_DIR\n"
            "  Writes a flat raw snapshot (spec 01 §1) with N synthetic users into OUT_DIR, which\n"
            "  must be absent or empty (generated as OUT_DIR.partial, renamed at the end).\n"
            "  Typing model and parameters: docs/synth.md.\n"
            "  --users N              number of users (required)\n"
            "  --seed S               PRNG seed, unsigned 64-bit (required); same seed = same bytes\n"
            "  --broken-fraction F    share of users broken on purpose (default 0.35)\n"
            "  --mobile-fraction F    share of mobile users (default 0.1)\n"
            "  --workers N            threads (default: number of CPUs; output does not depend on it)\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0.0 && v <= 1.0)) return -1;
    *out = v;
    return 0;
}

int kx_cmd_synth(int argc, char **argv)
{
    enum { O_USERS = 256, O_SEED, O_BROKEN, O_MOBILE, O_WORKERS, O_HELP };
    static const struct option opts[] = {{"users", required_argument, 0, O_USERS},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"broken-fraction", required_argument, 0, O_BROKEN},
                                         {"mobile-fraction", required_argument, 0, O_MOBILE},
                                         {"workers", required_argument, 0, O_WORKERS},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};
    kx_synth_params p;
    kx_synth_defaults(&p);
    p.workers = kx_cpu_count();
    bool have_users = false, have_seed = false;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_USERS:
            if (parse_u64(optarg, &v) || v > 100000000ULL) {
                fprintf(stderr, "keyetl synth: --users needs an integer 0 … 100000000, got '%s'\n", optarg);
                return 2;
            }
            p.users = (int64_t)v;
            have_users = true;
            break;
        case O_SEED:
            if (parse_u64(optarg, &p.seed)) {
                fprintf(stderr, "keyetl synth: --seed needs an unsigned integer, got '%s'\n", optarg);
                return 2;
            }
            have_seed = true;
            break;
        case O_BROKEN:
        case O_MOBILE:
            if (parse_fraction(optarg, c == O_BROKEN ? &p.broken_fraction : &p.mobile_fraction)) {
                fprintf(stderr, "keyetl synth: fractions are numbers in [0, 1], got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_WORKERS:
            if (parse_u64(optarg, &v) || v < 1 || v > 256) {
                fprintf(stderr, "keyetl synth: --workers needs 1 … 256, got '%s'\n", optarg);
                return 2;
            }
            p.workers = (int)v;
            break;
        case O_HELP: synth_usage(stdout); return 0;
        default: synth_usage(stderr); return 2;
        }
    }
    if (!have_users || !have_seed || optind != argc - 1) {
        synth_usage(stderr);
        return 2;
    }
    const char *out = argv[optind];
    kx_synth_summary s;
    kx_err err;
    if (kx_synth_write(&p, out, &s, &err) != 0) {
        fprintf(stderr, "keyetl synth: %s\n", err.msg);
        return 1;
    }
    printf("wrote %lld files (%lld bytes) for %lld users into %s\n", (long long)s.files, (long long)s.bytes,
           (long long)s.users, out);
    printf("expected: %lld complete, %lld broken (%lld too few rows, %lld missing keystroke files, %lld missing "
           "metadata); %lld mobile (%lld complete)\n",
           (long long)s.complete, (long long)s.broken, (long long)s.by_kind[KX_SYNTH_FEW_ROWS],
           (long long)s.by_kind[KX_SYNTH_MISSING_FILES], (long long)s.by_kind[KX_SYNTH_MISSING_METADATA],
           (long long)s.mobile, (long long)s.mobile_complete);
    return 0;
}
