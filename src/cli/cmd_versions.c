/* cmd_versions.c — placeholder until the command is implemented. */
#include <stdio.h>

#include "cli/cli.h"

int kx_cmd_versions(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyetl versions: not implemented yet\n");
    return 2;
}
