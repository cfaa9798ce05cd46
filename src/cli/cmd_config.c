/* cmd_config.c — placeholder until the command is implemented. */
#include <stdio.h>

#include "cli/cli.h"

int kx_cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyetl config: not implemented yet\n");
    return 2;
}
