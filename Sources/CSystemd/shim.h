#ifndef GARAGE_PXE_CSYSTEMD_SHIM_H
#define GARAGE_PXE_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
