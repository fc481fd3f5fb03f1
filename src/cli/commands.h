/* SPDX-License-Identifier: GPL-2.0-or-later */
/* commands: the subcommand table of the nestbox CLI.
 * Each subcommand lives in its own cmd_<name>.c, parses, calls a module, prints. */
#ifndef NESTBOX_CLI_COMMANDS_H
#define NESTBOX_CLI_COMMANDS_H

/**
 * struct nb_command - one subcommand
 * @name:	what the user types
 * @fn:		entry point; argv[0] is the subcommand name; returns the exit code
 * @summary:	one line for "nestbox --help"
 */
struct nb_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* One line per subcommand; keep sorted. */
int cmd_doctor(int argc, char **argv);
int cmd_fs(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_kernel(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ssh(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_wait(int argc, char **argv);

#endif
