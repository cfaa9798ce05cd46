/* main.c — `keyetl` command dispatcher. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", kx_cmd_run, "run pipeline stages on a raw snapshot (keyetl run --help)"},
    {"versions", kx_cmd_versions, "list, show, delete, archive and export versions"},
    {"config", kx_cmd_config, "show the effective settings and where each came from"},
    {"synth", kx_cmd_synth, "generate a synthetic raw snapshot"},
    {"inspect", kx_cmd_inspect, "inspect a Parquet file: schema, meta, head, cat"},
    {"convert", kx_cmd_convert, "convert a Parquet file to CSV"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: keyetl <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'keyetl <command> --help' describes each command.\n"
               "exit codes: 0 success, 1 a stage failed, 2 invalid invocation, 3 version busy\n");
}

/* stdio reports a failed write (full disk, closed pipe) only when the buffer is flushed: a
 * command whose output was lost must not exit 0. */
static int finish_stdout(int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return rc;
    if (errno) fprintf(stderr, "keyetl: cannot write standard output: %s\n", strerror(errno));
    else fprintf(stderr, "keyetl: cannot write standard output\n");
    return rc ? rc : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish_stdout(0);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("keyetl %s (build %s)\n", KEYETL_VERSION, KEYETL_BUILD_ID);
        return finish_stdout(0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return finish_stdout(commands[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "keyetl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
