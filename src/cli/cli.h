/* cli.h — one entry point per `keyetl` command (cmd_<name>.c). Each returns the process
 * exit code of spec 05 §1.3: 0 success, 1 stage failure, 2 invalid invocation, 3 busy. */
#ifndef KX_CLI_H
#define KX_CLI_H

int kx_cmd_run(int argc, char **argv);
int kx_cmd_synth(int argc, char **argv);
int kx_cmd_inspect(int argc, char **argv);
int kx_cmd_convert(int argc, char **argv);
int kx_cmd_versions(int argc, char **argv);
int kx_cmd_config(int argc, char **argv);

#endif
