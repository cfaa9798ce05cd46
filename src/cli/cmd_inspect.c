/* cmd_inspect.c — placeholder until the command is implemented. */
#include <stdio.h>

#include "cli/cli.h"

int kx_cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyetl inspect: not implemented yet\n");
    return 2;
}
