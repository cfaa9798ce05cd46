/* cmd_synth.c — placeholder until the command is implemented. */
#include <stdio.h>

#include "cli/cli.h"

int kx_cmd_synth(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyetl synth: not implemented yet\n");
    return 2;
}
