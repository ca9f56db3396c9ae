/*
 * What remora-primary's two modes share: exit statuses, reading a guest
 * image, turning a guest's end into an exit status.
 */
#ifndef REMORA_PRIMARY_MAIN_H
#define REMORA_PRIMARY_MAIN_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

enum { EXIT_USAGE = 2, EXIT_ABORTED = 134, EXIT_CRASHED = 139, EXIT_VMM = 70 };

/* The standalone runner (standalone.c): its own options and usage. */
int standalone_main(int argc, char **argv);

/* The exit status for a guest that stopped by itself; says why on stderr. */
int exit_status(const struct vm_status *st);

#endif
