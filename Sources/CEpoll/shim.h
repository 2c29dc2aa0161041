#ifndef GARAGE_PXE_CEPOLL_SHIM_H
#define GARAGE_PXE_CEPOLL_SHIM_H
/* Swift's Glibc module leaves out epoll and eventfd; the UDP module's event loop needs them. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
