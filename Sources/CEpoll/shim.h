#ifndef GARAGE_PXE_CEPOLL_SHIM_H
#define GARAGE_PXE_CEPOLL_SHIM_H
/* Swift's Glibc module leaves out epoll; the UDP module's socket group needs it. */
#include <sys/epoll.h>
#endif
