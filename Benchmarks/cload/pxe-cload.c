/*
 * pxe-cload: a load generator for TFTP and proxyDHCP servers, written in C apart from
 * garage-pxe's Swift codecs (it shares no code with the server or with the Swift load
 * generators in Benchmarks/), so a mistake in the project's own packet code cannot hide
 * in its figures. It builds and checks every packet by hand from RFC 1350/2347/2348/7440
 * (TFTP) and RFC 2131 + PXE 2.1 (DHCP).
 *
 * One thread, one epoll loop; recvmmsg drains each ready socket in batches.
 *
 *   pxe-cload tftp --server IP --file NAME --source PATH [--clients N] [--blksize B]
 *                  [--windowsize W] [--timeout-ms MS] [--retries N] [--server-pid PID]
 *                  [--repeat R] [--label TEXT]
 *     N transfers of NAME at once, each on its own UDP socket, connected to the server's
 *     transfer port (its TID) once the first reply names it. Every byte goes through a
 *     streaming SHA-256; a transfer counts as ok only if its length and digest equal
 *     PATH's. W = 1 (the default) is lockstep: windowsize is not even asked for.
 *     R (1): each of the N clients fetches the file R times, one after another (a new
 *     socket and RRQ each time), so one measurement lasts long enough to be steady.
 *
 *   pxe-cload discover --server IP --interface IF [--concurrency K] [--duration S] ...
 *   pxe-cload request  --server IP [--concurrency K] [--duration S] [--boot-item N] ...
 *     Closed loop with K requests outstanding: DISCOVER broadcast to :67 from :68 (the
 *     proxy OFFER comes back broadcast to :68), or REQUEST unicast to SERVER:4011 from :68
 *     on a connected socket (the ACK comes back to it). Each reply is checked (BOOTREPLY,
 *     our xid and chaddr, magic cookie, message type OFFER/ACK, option 60 "PXEClient",
 *     yiaddr 0 or our own ciaddr) before its slot takes the next request.
 *
 * --server-pid PID: the server's CPU (utime+stime, plus cutime+cstime of the children it
 * reaped) from /proc/PID/stat around the measurement. --server-cgroup DIR: from DIR's
 * cpuacct.usage instead (a cgroup v1 cpuacct folder holding only the server), which also
 * counts children never reaped (tftpd-hpa forks one per transfer and ignores SIGCHLD).
 *
 * Output: one line of key=value pairs; exit 1 if any transfer failed or any reply was
 * invalid, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAXPKT 65536

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pxe-cload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime+stime+cutime+cstime of PID in seconds; -1 if unreadable. */
static double proc_cpu_s(int pid) {
    if (pid <= 0) return -1;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    /* The command name may hold spaces: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3, state */
    unsigned long long v[17] = {0};
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && field <= 17; tok = strtok_r(NULL, " ", &save), field++)
        v[field - 1] = strtoull(tok, NULL, 10);
    double tick = (double)sysconf(_SC_CLK_TCK);
    return (v[13] + v[14] + v[15] + v[16]) / tick; /* fields 14-17 */
}

/* Server CPU in seconds: the cpuacct cgroup the server runs in when one is given (it
 * counts every process of the server, also the ones tftpd-hpa forks and never waits
 * for, since it ignores SIGCHLD), else /proc/PID/stat. */
static const char *server_cgroup;
static double server_cpu_s(int pid) {
    if (server_cgroup) {
        char path[512];
        snprintf(path, sizeof path, "%s/cpuacct.usage", server_cgroup);
        FILE *f = fopen(path, "r");
        if (!f) return -1;
        unsigned long long ns = 0;
        int ok = fscanf(f, "%llu", &ns) == 1;
        fclose(f);
        return ok ? ns / 1e9 : -1;
    }
    return proc_cpu_s(pid);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, int n, double p) {
    if (n == 0) return 0;
    int rank = (int)(p * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* ---------------------------------------------------------------- options */

struct opts {
    const char *mode, *server, *file, *source, *interface, *label;
    int clients, blksize, windowsize, timeout_ms, retries, server_pid, concurrency, boot_item, arch, repeat;
    double duration;
};

static void parse(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof *o);
    o->clients = 1; o->blksize = 512; o->windowsize = 1; o->timeout_ms = 1000; o->retries = 10;
    o->concurrency = 1; o->duration = 4; o->boot_item = 0x8000; o->label = ""; o->repeat = 1;
    if (argc < 2) die("usage: pxe-cload tftp|discover|request --server IP ... (see the source's header)");
    o->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) die("%s needs a value", k);
        const char *v = argv[++i];
        if (!strcmp(k, "--server")) o->server = v;
        else if (!strcmp(k, "--file")) o->file = v;
        else if (!strcmp(k, "--source")) o->source = v;
        else if (!strcmp(k, "--interface")) o->interface = v;
        else if (!strcmp(k, "--label")) o->label = v;
        else if (!strcmp(k, "--clients")) o->clients = atoi(v);
        else if (!strcmp(k, "--repeat")) o->repeat = atoi(v);
        else if (!strcmp(k, "--blksize")) o->blksize = atoi(v);
        else if (!strcmp(k, "--windowsize")) o->windowsize = atoi(v);
        else if (!strcmp(k, "--timeout-ms")) o->timeout_ms = atoi(v);
        else if (!strcmp(k, "--retries")) o->retries = atoi(v);
        else if (!strcmp(k, "--server-pid")) o->server_pid = atoi(v);
        else if (!strcmp(k, "--server-cgroup")) server_cgroup = v;
        else if (!strcmp(k, "--concurrency")) o->concurrency = atoi(v);
        else if (!strcmp(k, "--boot-item")) o->boot_item = (int)strtol(v, NULL, 0);
        else if (!strcmp(k, "--arch")) o->arch = atoi(v);
        else if (!strcmp(k, "--duration")) o->duration = atof(v);
        else die("unknown option %s", k);
    }
    if (!o->server) die("--server is required");
}

static struct in_addr parse_ip(const char *s) {
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) die("not an IPv4 address: %s", s);
    return a;
}

/* ---------------------------------------------------------------- TFTP */

/* ST_IDLE (zero, as calloc leaves it): a repeat not started yet. */
enum { ST_IDLE, ST_RRQ, ST_DATA, ST_DONE, ST_FAILED };

struct transfer {
    int fd, state, connected, retries_left, granted_blksize, granted_windowsize;
    uint64_t expected;        /* next block number, unwrapped */
    uint64_t in_window;       /* blocks received since the last ACK we sent */
    uint64_t gap_acked;       /* `expected` when we last ACKed a gap (once per gap) */
    uint64_t bytes;
    double started, finished, deadline;
    uint8_t last_sent[600];   /* what a timeout resends (RRQ or last ACK) */
    size_t last_len;
    struct sockaddr_in peer;  /* the server's TID, once known */
    EVP_MD_CTX *sha;
    char error[160];
};

static struct opts O;
static uint8_t want_digest[32];
static uint64_t want_size;

static void hash_source(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    static uint8_t buf[1 << 16];
    ssize_t n;
    want_size = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) { EVP_DigestUpdate(c, buf, (size_t)n); want_size += (uint64_t)n; }
    if (n < 0) die("read %s: %s", path, strerror(errno));
    unsigned len = 32;
    EVP_DigestFinal_ex(c, want_digest, &len);
    EVP_MD_CTX_free(c);
    close(fd);
}

static void fail(struct transfer *t, const char *fmt, ...) {
    if (t->state == ST_DONE || t->state == ST_FAILED) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof t->error, fmt, ap);
    va_end(ap);
    t->state = ST_FAILED;
    t->finished = now_s();
}

static void send_last(struct transfer *t) {
    ssize_t r = t->connected ? send(t->fd, t->last_sent, t->last_len, 0)
                             : sendto(t->fd, t->last_sent, t->last_len, 0, (struct sockaddr *)&t->peer, sizeof t->peer);
    (void)r; /* a failed send is a lost packet: the timeout resends it */
    t->deadline = now_s() + O.timeout_ms / 1000.0;
}

static void send_ack(struct transfer *t, uint64_t block) {
    t->last_sent[0] = 0; t->last_sent[1] = 4;
    t->last_sent[2] = (uint8_t)(block >> 8); t->last_sent[3] = (uint8_t)block;
    t->last_len = 4;
    t->in_window = 0;
    send_last(t);
}

static size_t put_str(uint8_t *p, const char *s) { size_t n = strlen(s) + 1; memcpy(p, s, n); return n; }

static void start_transfer(struct transfer *t, struct sockaddr_in server, int epfd, int index) {
    memset(t, 0, sizeof *t);
    t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0) die("socket: %s", strerror(errno));
    int rcv = 4 << 20;
    setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    t->sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(t->sha, EVP_sha256(), NULL);
    t->peer = server;
    t->retries_left = O.retries;
    t->expected = 1;
    t->granted_blksize = 512;
    t->granted_windowsize = 1;
    uint8_t *p = t->last_sent;
    *p++ = 0; *p++ = 1;
    p += put_str(p, O.file);
    p += put_str(p, "octet");
    char num[16];
    if (O.blksize != 512) { p += put_str(p, "blksize"); snprintf(num, sizeof num, "%d", O.blksize); p += put_str(p, num); }
    if (O.windowsize > 1) { p += put_str(p, "windowsize"); snprintf(num, sizeof num, "%d", O.windowsize); p += put_str(p, num); }
    t->last_len = (size_t)(p - t->last_sent);
    t->state = ST_RRQ;
    t->started = now_s();
    send_last(t);
}

static void finish_ok(struct transfer *t) {
    uint8_t got[32];
    unsigned len = 32;
    EVP_DigestFinal_ex(t->sha, got, &len);
    if (t->bytes != want_size) return fail(t, "length %llu, want %llu", (unsigned long long)t->bytes, (unsigned long long)want_size);
    if (memcmp(got, want_digest, 32) != 0) return fail(t, "SHA-256 differs from the source file's");
    t->state = ST_DONE;
    t->finished = now_s();
}

/* Parses an OACK's options; fails the transfer on anything not asked for. */
static void handle_oack(struct transfer *t, const uint8_t *p, size_t n) {
    size_t i = 2;
    while (i < n) {
        const char *name = (const char *)p + i;
        size_t nl = strnlen(name, n - i);
        if (i + nl >= n) return fail(t, "OACK: unterminated option");
        i += nl + 1;
        const char *value = (const char *)p + i;
        size_t vl = strnlen(value, n - i);
        if (i + vl >= n) return fail(t, "OACK: unterminated value");
        i += vl + 1;
        long v = atol(value);
        if (!strcasecmp(name, "blksize")) {
            if (O.blksize == 512 || v < 8 || v > O.blksize) return fail(t, "OACK blksize %ld (asked %d)", v, O.blksize);
            t->granted_blksize = (int)v;
        } else if (!strcasecmp(name, "windowsize")) {
            if (O.windowsize <= 1 || v < 1 || v > O.windowsize) return fail(t, "OACK windowsize %ld (asked %d)", v, O.windowsize);
            t->granted_windowsize = (int)v;
        } else {
            return fail(t, "OACK names an option not asked for: %s", name);
        }
    }
    send_ack(t, 0);
}

static void handle_tftp(struct transfer *t, const uint8_t *p, size_t n, const struct sockaddr_in *from) {
    if (t->state != ST_RRQ && t->state != ST_DATA) return;
    if (n < 4) return fail(t, "short packet (%zu bytes)", n);
    int op = p[0] << 8 | p[1];
    if (t->state == ST_RRQ) {
        /* The first reply names the server's TID: connect to it, so the kernel drops strangers. */
        if (from->sin_addr.s_addr != t->peer.sin_addr.s_addr) return;
        t->peer = *from;
        if (connect(t->fd, (struct sockaddr *)&t->peer, sizeof t->peer) < 0) return fail(t, "connect: %s", strerror(errno));
        t->connected = 1;
        t->state = ST_DATA;
        t->retries_left = O.retries;
        if (op == 6) return handle_oack(t, p, n);
    }
    if (op == 5) return fail(t, "ERROR %d from server: %.*s", p[2] << 8 | p[3], (int)(n > 4 ? n - 5 : 0), (const char *)p + 4);
    if (op == 6) return; /* a repeated OACK: our ACK 0 went missing, the timeout resends it */
    if (op != 3) return fail(t, "unexpected opcode %d", op);
    uint16_t wire = (uint16_t)(p[2] << 8 | p[3]);
    size_t len = n - 4;
    if (wire != (uint16_t)t->expected) {
        /* Out of order (windowed: a gap) or a duplicate. Windowed: ACK what we have, once
         * per gap, so the server resends from there (RFC 7440). Lockstep: ignore; the
         * timeout resends our ACK. */
        if (t->granted_windowsize > 1 && wire != (uint16_t)(t->expected - 1) && t->gap_acked != t->expected) {
            t->gap_acked = t->expected;
            send_ack(t, t->expected - 1);
        }
        return;
    }
    if (len > (size_t)t->granted_blksize) return fail(t, "DATA of %zu bytes, blksize %d", len, t->granted_blksize);
    EVP_DigestUpdate(t->sha, p + 4, len);
    t->bytes += len;
    t->retries_left = O.retries;
    uint64_t block = t->expected++;
    t->in_window++;
    if (len < (size_t)t->granted_blksize) {
        send_ack(t, block);
        return finish_ok(t);
    }
    if (t->in_window >= (uint64_t)t->granted_windowsize) send_ack(t, block);
    else t->deadline = now_s() + O.timeout_ms / 1000.0;
}

/* Closes ended transfer ts[i] and starts its client's next repeat, if any; returns whether
 * it started one (else the client is done). */
static int end_transfer(struct transfer *ts, int i, int total, struct sockaddr_in server, int epfd) {
    struct transfer *t = &ts[i];
    epoll_ctl(epfd, EPOLL_CTL_DEL, t->fd, NULL);
    close(t->fd);
    t->fd = -1;
    EVP_MD_CTX_free(t->sha);
    t->sha = NULL;
    if (i + O.clients >= total) return 0;
    start_transfer(&ts[i + O.clients], server, epfd, i + O.clients);
    return 1;
}

static int run_tftp(void) {
    if (!O.file || !O.source) die("tftp needs --file and --source");
    if (O.clients < 1 || O.repeat < 1 || O.blksize < 8 || O.blksize > 65464 || O.windowsize < 1)
        die("bad --clients/--repeat/--blksize/--windowsize");
    hash_source(O.source);
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons(69), .sin_addr = parse_ip(O.server)};
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1: %s", strerror(errno));
    /* Client i's k-th transfer is ts[k * clients + i]; it starts when the (k-1)-th ends. */
    int total = O.clients * O.repeat;
    struct transfer *ts = calloc((size_t)total, sizeof *ts);
    static uint8_t bufs[BATCH][MAXPKT];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in froms[BATCH];

    double cpu0 = server_cpu_s(O.server_pid);
    double t0 = now_s();
    for (int i = 0; i < O.clients; i++) start_transfer(&ts[i], server, epfd, i);
    int active = O.clients;
    struct epoll_event evs[256];
    while (active > 0) {
        double now = now_s(), next = now + 1;
        for (int i = 0; i < total; i++)
            if ((ts[i].state == ST_RRQ || ts[i].state == ST_DATA) && ts[i].deadline < next) next = ts[i].deadline;
        int wait_ms = next <= now ? 0 : (int)((next - now) * 1000) + 1;
        int ready = epoll_wait(epfd, evs, 256, wait_ms);
        if (ready < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int e = 0; e < ready; e++) {
            struct transfer *t = &ts[evs[e].data.u32];
            for (;;) {
                for (int k = 0; k < BATCH; k++) {
                    iov[k].iov_base = bufs[k]; iov[k].iov_len = MAXPKT;
                    memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
                    msgs[k].msg_hdr.msg_iov = &iov[k]; msgs[k].msg_hdr.msg_iovlen = 1;
                    msgs[k].msg_hdr.msg_name = &froms[k]; msgs[k].msg_hdr.msg_namelen = sizeof froms[k];
                }
                int got = recvmmsg(t->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0) break;
                for (int k = 0; k < got; k++) handle_tftp(t, bufs[k], msgs[k].msg_len, &froms[k]);
                if (got < BATCH) break;
            }
            if (t->state == ST_DONE || t->state == ST_FAILED) {
                if (!end_transfer(ts, (int)evs[e].data.u32, total, server, epfd)) active--;
            }
        }
        now = now_s();
        for (int i = 0; i < total; i++) {
            struct transfer *t = &ts[i];
            if ((t->state != ST_RRQ && t->state != ST_DATA) || t->deadline > now) continue;
            if (t->retries_left-- <= 0) {
                fail(t, "no answer after %d retries", O.retries);
                if (!end_transfer(ts, i, total, server, epfd)) active--;
            } else {
                send_last(t);
            }
        }
    }
    double wall = now_s() - t0;
    /* Let the server reap what it forked (tftpd-hpa), so cutime/cstime include it. */
    usleep(300000);
    double cpu1 = server_cpu_s(O.server_pid);

    int ok = 0, failed = 0;
    double *durations = calloc((size_t)total, sizeof *durations);
    uint64_t bytes = 0;
    const char *first_error = NULL;
    for (int i = 0; i < total; i++) {
        if (ts[i].state == ST_DONE) { durations[ok++] = ts[i].finished - ts[i].started; bytes += ts[i].bytes; }
        else { failed++; if (!first_error) first_error = ts[i].state == ST_IDLE ? "not started" : ts[i].error; }
    }
    qsort(durations, (size_t)ok, sizeof *durations, cmp_double);
    printf("generator=pxe-cload label=\"%s\" clients=%d repeat=%d ok=%d failed=%d wall_s=%.3f aggregate_MBps=%.3f p50_s=%.3f p99_s=%.3f"
           " blksize=%d windowsize=%d bytes=%llu",
           O.label, O.clients, O.repeat, ok, failed, wall, bytes / wall / 1e6, percentile(durations, ok, 0.5), percentile(durations, ok, 0.99),
           ts[0].granted_blksize, ts[0].granted_windowsize, (unsigned long long)bytes);
    if (cpu0 >= 0 && cpu1 >= 0)
        printf(" server_cpu_s=%.2f server_cpu_s_per_GB=%.3f", cpu1 - cpu0, bytes ? (cpu1 - cpu0) / (bytes / 1e9) : 0.0);
    if (first_error) printf(" first_error=\"%s\"", first_error);
    printf("\n");
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- DHCP */

#define DHCP_MIN 300
static const uint8_t COOKIE[4] = {99, 130, 83, 99};
static const char VENDOR_CLASS[] = "PXEClient:Arch:00000:UNDI:002001";

/* A PXE 2.1 ROM's request, as QEMU's iPXE ROM and OVMF send it. */
static size_t build_request(uint8_t *b, int discover, uint32_t xid, const uint8_t mac[6], struct in_addr ciaddr, int arch, int boot_item) {
    memset(b, 0, DHCP_MIN);
    b[0] = 1; b[1] = 1; b[2] = 6; /* BOOTREQUEST, Ethernet, hlen 6 */
    b[4] = xid >> 24; b[5] = xid >> 16; b[6] = xid >> 8; b[7] = xid;
    if (discover) b[10] = 0x80; /* broadcast flag */
    else memcpy(b + 12, &ciaddr, 4);
    memcpy(b + 28, mac, 6);
    uint8_t *p = b + 236;
    memcpy(p, COOKIE, 4); p += 4;
    *p++ = 53; *p++ = 1; *p++ = discover ? 1 : 3;
    *p++ = 57; *p++ = 2; *p++ = 0x05; *p++ = 0xc0;
    static const uint8_t prl[] = {1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135};
    *p++ = 55; *p++ = sizeof prl; memcpy(p, prl, sizeof prl); p += sizeof prl;
    *p++ = 93; *p++ = 2; *p++ = (uint8_t)(arch >> 8); *p++ = (uint8_t)arch;
    *p++ = 94; *p++ = 3; *p++ = 1; *p++ = 2; *p++ = 1;
    *p++ = 97; *p++ = 17; *p++ = 0;
    memcpy(p, "cload-guid-", 11); memcpy(p + 11, mac, 5); p += 16;
    *p++ = 60; *p++ = sizeof VENDOR_CLASS - 1; memcpy(p, VENDOR_CLASS, sizeof VENDOR_CLASS - 1); p += sizeof VENDOR_CLASS - 1;
    if (!discover) {
        /* Option 43, PXE sub-option 71: the boot item picked from the offer's menu. */
        *p++ = 43; *p++ = 7; *p++ = 71; *p++ = 4;
        *p++ = (uint8_t)(boot_item >> 8); *p++ = (uint8_t)boot_item; *p++ = 0; *p++ = 0;
        *p++ = 255;
    } else {
        *p++ = 255;
    }
    size_t n = (size_t)(p - b);
    return n < DHCP_MIN ? DHCP_MIN : n;
}

/* Locally administered MAC 02:43:ss:ss:ss:ss from the request's sequence number. */
static void mac_for(uint32_t seq, uint8_t mac[6]) {
    mac[0] = 0x02; mac[1] = 0x43; mac[2] = seq >> 24; mac[3] = seq >> 16; mac[4] = seq >> 8; mac[5] = seq;
}

/* Checks a reply; returns NULL if valid, else why not. */
static const char *check_reply(const uint8_t *b, size_t n, uint32_t xid, const uint8_t mac[6], int discover, struct in_addr ciaddr) {
    if (n < 240) return "shorter than a BOOTP header";
    if (b[0] != 2) return "not a BOOTREPLY";
    if (b[1] != 1 || b[2] != 6) return "not Ethernet";
    uint32_t rx = (uint32_t)b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7];
    if (rx != xid) return "xid";
    if (memcmp(b + 28, mac, 6) != 0) return "chaddr";
    if (memcmp(b + 236, COOKIE, 4) != 0) return "magic cookie";
    uint32_t yi;
    memcpy(&yi, b + 16, 4);
    if (yi != 0 && (discover || yi != ciaddr.s_addr)) return "yiaddr (a proxy leases nothing)";
    int type = -1, pxeclient = 0, has_boot = b[108] != 0;
    size_t i = 240;
    while (i < n && b[i] != 255) {
        if (b[i] == 0) { i++; continue; }
        if (i + 1 >= n || i + 2 + b[i + 1] > n) return "option runs past the end";
        uint8_t code = b[i], len = b[i + 1];
        const uint8_t *v = b + i + 2;
        if (code == 53 && len == 1) type = v[0];
        if (code == 60 && len >= 9 && memcmp(v, "PXEClient", 9) == 0) pxeclient = 1;
        if (code == 43 || code == 67) has_boot = 1;
        i += 2 + len;
    }
    if (type != (discover ? 2 : 5)) return discover ? "not an OFFER" : "not an ACK";
    if (!pxeclient) return "no option 60 PXEClient";
    if (!has_boot) return "no boot file and no PXE option 43";
    return NULL;
}

struct slot {
    uint32_t xid, seq;
    double sent;
    int busy;
};

static int run_dhcp(int discover) {
    if (O.concurrency < 1 || O.concurrency > 255) die("--concurrency must be 1-255");
    struct in_addr server_ip = parse_ip(O.server);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1, rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct in_addr my_ip = {0};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = server_ip, .sin_port = htons(4011)};
    if (discover) {
        if (!O.interface) die("discover needs --interface");
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, O.interface, (socklen_t)strlen(O.interface)) < 0)
            die("SO_BINDTODEVICE %s: %s", O.interface, strerror(errno));
        to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
        to.sin_port = htons(67);
    }
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(68)};
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("bind :68: %s", strerror(errno));
    if (!discover) {
        /* Unicast to SERVER:4011: a connected socket, so the ACK is all it receives. */
        if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) die("connect: %s", strerror(errno));
        socklen_t l = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &l);
        my_ip = me.sin_addr;
    }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);

    int k = O.concurrency;
    struct slot slots[256] = {{0}};
    uint32_t seq = 1, gen = 1;
    uint64_t sent = 0, valid = 0, invalid = 0, foreign = 0, lost = 0, unmatched = 0;
    const char *first_invalid = NULL;
    size_t lat_cap = 1 << 22, lat_n = 0;
    double *lat = malloc(lat_cap * sizeof *lat);
    uint8_t req[600];
    static uint8_t bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in froms[BATCH];
    double timeout = O.timeout_ms / 1000.0;

#define SEND_SLOT(i) do { \
        uint8_t mac[6]; \
        slots[i].seq = seq++; slots[i].xid = (gen++ << 8) | (uint32_t)(i); \
        mac_for(slots[i].seq, mac); \
        size_t n = build_request(req, discover, slots[i].xid, mac, my_ip, O.arch, O.boot_item); \
        slots[i].sent = now_s(); slots[i].busy = 1; sent++; \
        if ((discover ? sendto(fd, req, n, 0, (struct sockaddr *)&to, sizeof to) : send(fd, req, n, 0)) < 0) slots[i].sent = -1e9; \
    } while (0)

    /* Warm-up is the caller's business (a short run before); measure from here. */
    double cpu0 = server_cpu_s(O.server_pid);
    double t0 = now_s(), stop_sending = t0 + O.duration, hard_end = stop_sending + timeout + 0.5;
    for (int i = 0; i < k; i++) SEND_SLOT(i);
    uint64_t valid_in_window = 0;
    int outstanding = k;
    struct epoll_event evs[4];
    while (outstanding > 0) {
        double now = now_s();
        if (now > hard_end) break;
        int r = epoll_wait(epfd, evs, 4, 5);
        if (r < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        if (r > 0) {
            for (;;) {
                for (int m = 0; m < BATCH; m++) {
                    iov[m].iov_base = bufs[m]; iov[m].iov_len = sizeof bufs[m];
                    memset(&msgs[m].msg_hdr, 0, sizeof msgs[m].msg_hdr);
                    msgs[m].msg_hdr.msg_iov = &iov[m]; msgs[m].msg_hdr.msg_iovlen = 1;
                    msgs[m].msg_hdr.msg_name = &froms[m]; msgs[m].msg_hdr.msg_namelen = sizeof froms[m];
                }
                int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0) break;
                double at = now_s();
                for (int m = 0; m < got; m++) {
                    const uint8_t *b = bufs[m];
                    size_t n = msgs[m].msg_len;
                    if (froms[m].sin_addr.s_addr != server_ip.s_addr) { foreign++; continue; }
                    if (n < 8) { invalid++; if (!first_invalid) first_invalid = "runt"; continue; }
                    uint32_t xid = (uint32_t)b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7];
                    int i = (int)(xid & 0xff);
                    if (i >= k || !slots[i].busy || slots[i].xid != xid) { unmatched++; continue; }
                    uint8_t mac[6];
                    mac_for(slots[i].seq, mac);
                    const char *why = check_reply(b, n, xid, mac, discover, my_ip);
                    if (why) { invalid++; if (!first_invalid) first_invalid = why; continue; }
                    valid++;
                    if (slots[i].sent <= stop_sending) {
                        if (at <= stop_sending) valid_in_window++;
                        if (lat_n < lat_cap) lat[lat_n++] = at - slots[i].sent;
                    }
                    slots[i].busy = 0; outstanding--;
                    if (at < stop_sending) { SEND_SLOT(i); outstanding++; }
                }
                if (got < BATCH) break;
            }
        }
        now = now_s();
        for (int i = 0; i < k; i++) {
            if (!slots[i].busy || now - slots[i].sent < timeout) continue;
            lost++;
            slots[i].busy = 0; outstanding--;
            if (now < stop_sending) { SEND_SLOT(i); outstanding++; }
        }
    }
    for (int i = 0; i < k; i++) if (slots[i].busy) lost++;
    double window = (now_s() < stop_sending ? now_s() : stop_sending) - t0;
    usleep(100000);
    double cpu1 = server_cpu_s(O.server_pid);
    qsort(lat, lat_n, sizeof *lat, cmp_double);
    double rate = valid_in_window / window;
    printf("generator=pxe-cload label=\"%s\" mode=%s concurrency=%d sent=%llu valid=%llu invalid=%llu lost=%llu foreign=%llu unmatched=%llu"
           " replies_per_s=%.0f p50_us=%.1f p99_us=%.1f",
           O.label, discover ? "discover" : "request", k, (unsigned long long)sent, (unsigned long long)valid, (unsigned long long)invalid,
           (unsigned long long)lost, (unsigned long long)foreign, (unsigned long long)unmatched, rate,
           percentile(lat, (int)lat_n, 0.5) * 1e6, percentile(lat, (int)lat_n, 0.99) * 1e6);
    if (cpu0 >= 0 && cpu1 >= 0)
        printf(" server_cpu_s=%.2f server_cpu_us_per_reply=%.1f", cpu1 - cpu0, valid ? (cpu1 - cpu0) * 1e6 / valid : 0.0);
    if (first_invalid) printf(" first_invalid=\"%s\"", first_invalid);
    printf(" verified=%s\n", invalid == 0 && valid > 0 ? "yes" : "NO");
    return invalid == 0 && valid > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse(argc, argv, &O);
    if (!strcmp(O.mode, "tftp")) return run_tftp();
    if (!strcmp(O.mode, "discover")) return run_dhcp(1);
    if (!strcmp(O.mode, "request")) return run_dhcp(0);
    die("unknown mode %s (tftp, discover, request)", O.mode);
}
