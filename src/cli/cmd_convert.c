/* cmd_convert.c — placeholder until the command is implemented. */
#include <stdio.h>

#include "cli/cli.h"

int kx_cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyetl convert: not implemented yet\n");
    return 2;
}
