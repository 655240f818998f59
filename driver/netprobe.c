#include "netprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

#define TCP_MSG_LEN        8
#define CONNECT_TIMEOUT_MS 5000
#define DRAIN_AFTER_STOP_MS 300
/* Pings sent this close to the end may still be in flight: not counted. */
#define LOSS_GRACE_US      (1 * G_USEC_PER_SEC)

/* Where the switchover gap may end, around the bridge's relearning (which
 * is sampled every interval). */
#define SWITCHOVER_BEFORE_US (100 * 1000)
#define SWITCHOVER_AFTER_US  (1000 * 1000)

enum { TCP_NOT_TRIED, TCP_CONNECTED, TCP_FAILED };

typedef struct {
    gint64 sent_us;
    gint64 reply_us;           /* 0 = no reply */
} PingRec;

typedef struct {
    gint64 t_us;
    NetPort port;
    guint64 src_tx;
    guint64 dst_tx;
} BridgeSample;

struct NetProbe {
    NetProbeConfig cfg;
    char *client_netns;
    char *guest_ip;
    guint8 mac[6];
    char *src_tap;
    char *dst_tap;
    char *brforward_path;
    char *src_tx_path;
    char *dst_tx_path;
    unsigned src_port_no;
    unsigned dst_port_no;
    struct sockaddr_in guest;

    GThread *thread;
    GMutex lock;
    GCond cond;
    /* set under lock */
    gboolean started;          /* the thread finished opening its sockets */
    char *start_error;
    gboolean stop;
    gboolean answered;         /* a ping reply came back */
    int tcp_state;             /* TCP_NOT_TRIED, TCP_CONNECTED, TCP_FAILED */
    gint64 mig_start_us;
    gint64 complete_us;
    gint64 stop_us;

    /* owned by the thread until it is joined */
    int icmp_fd;
    int tcp_fd;
    /* frames the destination's QEMU sends into its tap (the driver's netns) */
    int tap_fd;
    gint64 first_announce_real_us;   /* QEMU's RARP self-announce */
    gint64 first_guest_frame_real_us; /* anything else from the guest's MAC */
    guint16 echo_ident;
    GArray *pings;             /* PingRec, index = sequence number */
    GArray *echoes;            /* gint64 arrival of each whole TCP echo */
    GArray *bridge;            /* BridgeSample */
    guint64 tcp_sent;
    gsize tcp_partial;         /* bytes of the next echo already read */
    char *tcp_error;
    gint64 tcp_error_us;
};

const char *netport_name(NetPort port)
{
    switch (port) {
    case NET_PORT_SRC: return "source tap";
    case NET_PORT_DST: return "destination tap";
    case NET_PORT_OTHER: return "another port";
    default: return "no entry";
    }
}

/* ---- bridge sampling (sysfs of the driver's own network namespace) ---------- */

static gboolean read_u64_file(const char *path, guint64 *out)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    *out = g_ascii_strtoull(text, NULL, 0);
    return TRUE;
}

static NetPort lookup_mac(NetProbe *p)
{
    g_autofree char *buf = NULL;
    gsize len = 0;

    if (!g_file_get_contents(p->brforward_path, &buf, &len, NULL)) {
        return NET_PORT_NONE;
    }
    for (gsize off = 0; off + sizeof(struct __fdb_entry) <= len;
         off += sizeof(struct __fdb_entry)) {
        struct __fdb_entry e;
        unsigned port;

        memcpy(&e, buf + off, sizeof(e));
        if (memcmp(e.mac_addr, p->mac, 6) != 0 || e.is_local) {
            continue;
        }
        port = (unsigned)e.port_hi << 8 | e.port_no;
        return port == p->src_port_no ? NET_PORT_SRC :
               port == p->dst_port_no ? NET_PORT_DST : NET_PORT_OTHER;
    }
    return NET_PORT_NONE;
}

static void sample_bridge(NetProbe *p, gint64 now)
{
    BridgeSample s = { .t_us = now, .port = lookup_mac(p) };

    read_u64_file(p->src_tx_path, &s.src_tx);
    read_u64_file(p->dst_tx_path, &s.dst_tx);
    g_array_append_val(p->bridge, s);
}

static gboolean tap_port(const char *tap, unsigned *port_no, char **bridge, GError **error)
{
    g_autofree char *port_path = g_strdup_printf("/sys/class/net/%s/brport/port_no", tap);
    g_autofree char *br_link = g_strdup_printf("/sys/class/net/%s/brport/bridge", tap);
    g_autofree char *target = NULL;
    guint64 v;

    if (!read_u64_file(port_path, &v)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE,
                    "%s is not a bridge port in the driver's network namespace (no %s)",
                    tap, port_path);
        return FALSE;
    }
    target = g_file_read_link(br_link, NULL);
    if (!target) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE, "cannot read %s", br_link);
        return FALSE;
    }
    *port_no = (unsigned)v;
    *bridge = g_path_get_basename(target);
    return TRUE;
}

/* ---- ICMP echo -------------------------------------------------------------- */

static guint16 inet_checksum(const void *data, gsize len)
{
    const guint8 *b = data;
    guint32 sum = 0;

    for (gsize i = 0; i + 1 < len; i += 2) {
        sum += (guint32)b[i] << 8 | b[i + 1];
    }
    if (len & 1) {
        sum += (guint32)b[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return htons((guint16)~sum);
}

static void send_ping(NetProbe *p, gint64 now)
{
    guint8 pkt[sizeof(struct icmphdr) + 8] = { 0 };
    struct icmphdr *h = (struct icmphdr *)pkt;
    guint seq = p->pings->len;
    PingRec rec = { .sent_us = now };

    h->type = ICMP_ECHO;
    h->un.echo.id = htons(p->echo_ident);
    h->un.echo.sequence = htons((guint16)seq);
    memcpy(pkt + sizeof(*h), &now, sizeof(now));
    h->checksum = inet_checksum(pkt, sizeof(pkt));
    g_array_append_val(p->pings, rec);
    /* A send error (no route yet, queue full) is a lost ping, nothing more. */
    (void)sendto(p->icmp_fd, pkt, sizeof(pkt), MSG_DONTWAIT,
                 (struct sockaddr *)&p->guest, sizeof(p->guest));
}

static void receive_pings(NetProbe *p, gint64 now)
{
    guint8 buf[1500];

    for (;;) {
        struct sockaddr_in from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(p->icmp_fd, buf, sizeof(buf), MSG_DONTWAIT,
                             (struct sockaddr *)&from, &flen);
        const struct iphdr *ip = (const struct iphdr *)buf;
        const struct icmphdr *h;
        gsize hl;
        guint seq;

        if (n < 0) {
            return;
        }
        hl = (gsize)ip->ihl * 4;
        if ((gsize)n < hl + sizeof(*h) || from.sin_addr.s_addr != p->guest.sin_addr.s_addr) {
            continue;
        }
        h = (const struct icmphdr *)(buf + hl);
        if (h->type != ICMP_ECHOREPLY || ntohs(h->un.echo.id) != p->echo_ident) {
            continue;
        }
        /* The 16-bit sequence wraps every 65536 pings: take the newest
         * ping with those low bits. */
        seq = ntohs(h->un.echo.sequence);
        if (p->pings->len == 0) {
            continue;
        }
        seq += ((p->pings->len - 1 - seq) & ~0xffffu);
        if (seq < p->pings->len) {
            PingRec *rec = &g_array_index(p->pings, PingRec, seq);

            if (!rec->reply_us) {
                rec->reply_us = now;
            }
            if (!p->answered) {
                g_mutex_lock(&p->lock);
                p->answered = TRUE;
                g_mutex_unlock(&p->lock);
            }
        }
    }
}

/* ---- TCP echo ------------------------------------------------------------- */

static void tcp_fail(NetProbe *p, gint64 now, const char *what, int err)
{
    if (!p->tcp_error) {
        p->tcp_error = err ? g_strdup_printf("%s: %s", what, g_strerror(err)) : g_strdup(what);
        p->tcp_error_us = now;
    }
}

static void send_tcp(NetProbe *p, gint64 now)
{
    char msg[TCP_MSG_LEN + 1];
    ssize_t n;

    if (p->tcp_error) {
        return;
    }
    g_snprintf(msg, sizeof(msg), "%07" G_GUINT64_FORMAT "\n", p->tcp_sent % 10000000);
    n = send(p->tcp_fd, msg, TCP_MSG_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == TCP_MSG_LEN) {
        p->tcp_sent++;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        tcp_fail(p, now, "send", errno);
    }
    /* A short write or a full send buffer (peer stalled) just skips a beat. */
}

static void receive_tcp(NetProbe *p, gint64 now)
{
    char buf[4096];

    while (!p->tcp_error) {
        ssize_t n = recv(p->tcp_fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n == 0) {
            tcp_fail(p, now, "the guest closed the connection", 0);
        } else if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tcp_fail(p, now, "recv", errno);
            }
            return;
        }
        p->tcp_partial += (gsize)MAX(n, 0);
        while (p->tcp_partial >= TCP_MSG_LEN) {
            p->tcp_partial -= TCP_MSG_LEN;
            g_array_append_val(p->echoes, now);
        }
    }
}

static int open_tcp(NetProbe *p, GString *why)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int one = 1, err = 0;
    socklen_t elen = sizeof(err);

    if (fd < 0) {
        g_string_append_printf(why, "TCP socket: %s", g_strerror(errno));
        return -1;
    }
    /* Small messages must not wait for Nagle. */
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&p->guest, sizeof(p->guest)) < 0 &&
        errno != EINPROGRESS) {
        err = errno;
    } else if (poll(&pfd, 1, CONNECT_TIMEOUT_MS) != 1) {
        err = ETIMEDOUT;
    } else {
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    }
    if (err) {
        g_string_append_printf(why, "TCP connect to %s:%u: %s", p->guest_ip,
                               p->cfg.tcp_port, g_strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the probe thread ----------------------------------------------------- */

static gboolean enter_client_netns(NetProbe *p, GString *why)
{
    g_autofree char *path = g_strdup_printf("/run/netns/%s", p->client_netns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        g_string_append_printf(why, "cannot open network namespace %s: %s", path,
                               g_strerror(errno));
        return FALSE;
    }
    /* Only this thread moves: QEMU and QMP stay in the driver's namespace. */
    if (setns(fd, CLONE_NEWNET) < 0) {
        g_string_append_printf(why, "setns(%s): %s", path, g_strerror(errno));
        close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}

static void report_started(NetProbe *p, GString *why)
{
    g_mutex_lock(&p->lock);
    p->started = TRUE;
    p->start_error = why->len ? g_strdup(why->str) : NULL;
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
}

/* Once the guest answers pings: connect from this thread, which is in the
 * client's namespace, and tell netprobe_start(). */
static void connect_tcp(NetProbe *p)
{
    g_autoptr(GString) why = g_string_new(NULL);
    int fd = open_tcp(p, why);

    g_mutex_lock(&p->lock);
    p->tcp_fd = fd;
    p->tcp_state = fd >= 0 ? TCP_CONNECTED : TCP_FAILED;
    if (fd < 0) {
        p->start_error = g_strdup(why->str);
    }
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
}

/*
 * Frames the destination's QEMU writes into its tap: the kernel sees them
 * as received on the tap.  The first RARP from the guest's MAC is QEMU's
 * announce; the first other frame is the guest speaking for itself.
 */
static void receive_tap(NetProbe *p)
{
    for (;;) {
        guint8 frame[64];
        struct sockaddr_ll from;
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(struct timeval))];
        } control;
        struct iovec iov = { frame, sizeof(frame) };
        struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
                              .msg_iov = &iov, .msg_iovlen = 1,
                              .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        ssize_t n = recvmsg(p->tap_fd, &msg, MSG_DONTWAIT);
        gint64 at_us = g_get_real_time();

        if (n < 0) {
            return;
        }
        if (n < ETH_HLEN || from.sll_pkttype == PACKET_OUTGOING ||
            memcmp(frame + ETH_ALEN, p->mac, ETH_ALEN)) {
            continue;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
                struct timeval tv;

                memcpy(&tv, CMSG_DATA(c), sizeof(tv));
                at_us = (gint64)tv.tv_sec * G_USEC_PER_SEC + tv.tv_usec;
            }
        }
        if (((frame[12] << 8) | frame[13]) == ETH_P_RARP) {
            if (!p->first_announce_real_us) {
                p->first_announce_real_us = at_us;
            }
        } else if (!p->first_guest_frame_real_us) {
            p->first_guest_frame_real_us = at_us;
        }
    }
}

/* A packet socket on the destination's tap, or -1 with the reason in @why */
static int open_tap_capture(const char *tap, GString *why)
{
    struct sockaddr_ll addr = { .sll_family = AF_PACKET,
                                .sll_protocol = htons(ETH_P_ALL) };
    int one = 1;
    int fd;

    addr.sll_ifindex = (int)if_nametoindex(tap);
    if (!addr.sll_ifindex) {
        g_string_append_printf(why, "no interface %s: %s", tap, g_strerror(errno));
        return -1;
    }
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)) < 0) {
        g_string_append_printf(why, "packet socket on %s: %s (needs CAP_NET_RAW)", tap,
                               g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static gpointer probe_thread(gpointer data)
{
    NetProbe *p = data;
    g_autoptr(GString) why = g_string_new(NULL);
    gint64 next_tick, stop_at = 0;

    if (enter_client_netns(p, why)) {
        p->icmp_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (p->icmp_fd < 0) {
            g_string_append_printf(why, "raw ICMP socket: %s (needs CAP_NET_RAW)",
                                   g_strerror(errno));
        }
    }
    report_started(p, why);
    if (why->len) {
        return NULL;
    }
    next_tick = drv_now_us();
    for (;;) {
        gint64 now = drv_now_us();
        struct pollfd pfd[3] = { { .fd = p->icmp_fd, .events = POLLIN },
                                 { .fd = p->tap_fd, .events = POLLIN },
                                 { .fd = p->tcp_fd, .events = POLLIN } };
        gboolean stop;

        g_mutex_lock(&p->lock);
        stop = p->stop;
        g_mutex_unlock(&p->lock);
        if (stop && !stop_at) {
            stop_at = now + DRAIN_AFTER_STOP_MS * 1000;
        }
        if (stop_at && now >= stop_at) {
            break;
        }
        if (p->answered && p->tcp_state == TCP_NOT_TRIED) {
            connect_tcp(p);
            continue;
        }
        if (now >= next_tick) {
            if (!stop_at) {
                send_ping(p, now);
                if (p->tcp_fd >= 0) {
                    send_tcp(p, now);
                }
            }
            sample_bridge(p, now);
            next_tick += (gint64)p->cfg.interval_ms * 1000;
            if (next_tick < now) {
                next_tick = now;  /* we were descheduled: do not burst */
            }
        }
        if (poll(pfd, p->tcp_fd >= 0 ? 3 : 2,
                 (int)MAX(0, (next_tick - now + 999) / 1000)) > 0) {
            now = drv_now_us();
            receive_pings(p, now);
            if (pfd[1].revents & POLLIN) {
                receive_tap(p);
            }
            if (p->tcp_fd >= 0) {
                receive_tcp(p, now);
            }
        }
    }
    return NULL;
}

/* Waits for the first ping reply and the TCP connection made after it. */
static gboolean wait_reachable(NetProbe *p, double timeout_s, GError **error)
{
    gint64 deadline = drv_now_us() + (gint64)(timeout_s * G_USEC_PER_SEC);

    for (;;) {
        gboolean answered;
        int tcp_state;

        g_mutex_lock(&p->lock);
        answered = p->answered;
        tcp_state = p->tcp_state;
        g_mutex_unlock(&p->lock);
        if (tcp_state == TCP_CONNECTED) {
            return TRUE;
        }
        if (tcp_state == TCP_FAILED) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "network probe: %s", p->start_error);
            return FALSE;
        }
        if (drv_now_us() > deadline) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "the guest (%s) did not answer %s from network namespace %s "
                        "within %.0f s", p->guest_ip,
                        answered ? "the TCP connection" : "pings", p->client_netns, timeout_s);
            return FALSE;
        }
        if (!drv_sleep_ms(50, error)) {
            return FALSE;
        }
    }
}

static void stop_thread(NetProbe *p)
{
    if (p->thread) {
        g_mutex_lock(&p->lock);
        p->stop = TRUE;
        g_mutex_unlock(&p->lock);
        g_thread_join(p->thread);
        p->thread = NULL;
    }
}

static void probe_free(NetProbe *p)
{
    stop_thread(p);
    if (p->icmp_fd >= 0) {
        close(p->icmp_fd);
    }
    if (p->tcp_fd >= 0) {
        close(p->tcp_fd);
    }
    if (p->tap_fd >= 0) {
        close(p->tap_fd);
    }
    g_array_unref(p->pings);
    g_array_unref(p->echoes);
    g_array_unref(p->bridge);
    g_free(p->client_netns);
    g_free(p->guest_ip);
    g_free(p->src_tap);
    g_free(p->dst_tap);
    g_free(p->brforward_path);
    g_free(p->src_tx_path);
    g_free(p->dst_tx_path);
    g_free(p->start_error);
    g_free(p->tcp_error);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->cond);
    g_free(p);
}

static gboolean parse_mac(const char *s, guint8 mac[6])
{
    unsigned v[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6) {
        return FALSE;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (guint8)v[i];
    }
    return TRUE;
}

static gboolean check_config(const NetProbeConfig *cfg, struct in_addr *addr, guint8 mac[6],
                             unsigned *src_port_no, unsigned *dst_port_no, char **bridge,
                             GError **error)
{
    g_autofree char *ns_path = g_strdup_printf("/run/netns/%s", cfg->client_netns);
    g_autofree char *src_br = NULL;
    g_autofree char *dst_br = NULL;

    if (inet_pton(AF_INET, cfg->guest_ip, addr) != 1) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE, "not an IPv4 address: %s", cfg->guest_ip);
        return FALSE;
    }
    if (!parse_mac(cfg->guest_mac, mac)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE, "not a MAC address: %s", cfg->guest_mac);
        return FALSE;
    }
    if (!g_file_test(ns_path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE,
                    "no network namespace %s (%s): create it with 'ip netns add' "
                    "(scripts/testnet.sh up)", cfg->client_netns, ns_path);
        return FALSE;
    }
    if (!tap_port(cfg->src_tap, src_port_no, &src_br, error) ||
        !tap_port(cfg->dst_tap, dst_port_no, &dst_br, error)) {
        return FALSE;
    }
    if (!g_str_equal(src_br, dst_br)) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_USAGE,
                    "%s is on bridge %s but %s on %s: both taps must share one bridge",
                    cfg->src_tap, src_br, cfg->dst_tap, dst_br);
        return FALSE;
    }
    *bridge = g_steal_pointer(&src_br);
    return TRUE;
}

gboolean netprobe_check(const NetProbeConfig *cfg, GError **error)
{
    struct in_addr addr;
    guint8 mac[6];
    unsigned src_port_no, dst_port_no;
    g_autofree char *bridge = NULL;

    return check_config(cfg, &addr, mac, &src_port_no, &dst_port_no, &bridge, error);
}

NetProbe *netprobe_start(const NetProbeConfig *cfg, double ready_timeout_s, GError **error)
{
    NetProbe *p = g_new0(NetProbe, 1);
    g_autofree char *bridge = NULL;

    p->cfg = *cfg;
    p->client_netns = g_strdup(cfg->client_netns);
    p->guest_ip = g_strdup(cfg->guest_ip);
    p->src_tap = g_strdup(cfg->src_tap);
    p->dst_tap = g_strdup(cfg->dst_tap);
    p->icmp_fd = -1;
    p->tcp_fd = -1;
    p->tap_fd = -1;
    p->echo_ident = (guint16)(getpid() ^ 0x6d61);
    p->pings = g_array_new(FALSE, FALSE, sizeof(PingRec));
    p->echoes = g_array_new(FALSE, FALSE, sizeof(gint64));
    p->bridge = g_array_new(FALSE, FALSE, sizeof(BridgeSample));
    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
    p->guest.sin_family = AF_INET;
    p->guest.sin_port = htons(cfg->tcp_port);
    if (!check_config(cfg, &p->guest.sin_addr, p->mac, &p->src_port_no, &p->dst_port_no,
                      &bridge, error)) {
        goto fail;
    }
    p->brforward_path = g_strdup_printf("/sys/class/net/%s/brforward", bridge);
    p->src_tx_path = g_strdup_printf("/sys/class/net/%s/statistics/tx_packets", cfg->src_tap);
    p->dst_tx_path = g_strdup_printf("/sys/class/net/%s/statistics/tx_packets", cfg->dst_tap);
    {
        g_autoptr(GString) why = g_string_new(NULL);

        /* Opened here: the probe thread moves into the client's netns */
        p->tap_fd = open_tap_capture(cfg->dst_tap, why);
        if (p->tap_fd < 0) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "network probe: %s", why->str);
            goto fail;
        }
    }

    p->thread = g_thread_new("netprobe", probe_thread, p);
    g_mutex_lock(&p->lock);
    while (!p->started) {
        g_cond_wait(&p->cond, &p->lock);
    }
    g_mutex_unlock(&p->lock);
    if (p->start_error) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "network probe: %s", p->start_error);
        goto fail;
    }
    if (!wait_reachable(p, ready_timeout_s, error)) {
        goto fail;
    }
    drv_log("network probe: %s answers pings and TCP echo (port %u) from netns %s, "
            "every %u ms", cfg->guest_ip, cfg->tcp_port, cfg->client_netns, cfg->interval_ms);
    return p;

fail:
    probe_free(p);
    return NULL;
}

void netprobe_mark_migration_start(NetProbe *p)
{
    g_mutex_lock(&p->lock);
    p->mig_start_us = drv_now_us();
    g_mutex_unlock(&p->lock);
}

void netprobe_mark_complete(NetProbe *p)
{
    g_mutex_lock(&p->lock);
    p->complete_us = drv_now_us();
    g_mutex_unlock(&p->lock);
}

/* ---- results -------------------------------------------------------------- */

static gint cmp_i64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

/* Longest interval between consecutive arrivals in [from, to], counting
 * from @from and up to @to so silence at either end counts too. */
static double longest_gap(GArray *times, gint64 from, gint64 to, gint64 *gap_start)
{
    gint64 prev = from, best = 0;

    *gap_start = from;
    g_array_sort(times, cmp_i64);
    for (guint i = 0; i < times->len; i++) {
        gint64 t = g_array_index(times, gint64, i);

        if (t < from || t > to) {
            continue;
        }
        if (t - prev > best) {
            best = t - prev;
            *gap_start = prev;
        }
        prev = t;
    }
    if (to - prev > best) {
        best = to - prev;
        *gap_start = prev;
    }
    return best / 1000.0;
}

/* The longest interval between consecutive (sorted) arrivals that ends
 * within SWITCHOVER_WINDOW of @moved_us: the destination's first answers
 * come right after its announce teaches the bridge. */
static double gap_ending_near(GArray *sorted, gint64 from, gint64 moved_us,
                              gint64 *gap_start, gint64 *gap_end)
{
    gint64 prev = from, best = 0;

    for (guint i = 0; i < sorted->len; i++) {
        gint64 t = g_array_index(sorted, gint64, i);

        if (t < from) {
            continue;
        }
        if (t >= moved_us - SWITCHOVER_BEFORE_US && t <= moved_us + SWITCHOVER_AFTER_US &&
            t - prev > best) {
            best = t - prev;
            *gap_start = prev;
            *gap_end = t;
        }
        prev = t;
    }
    return best / 1000.0;
}

/* Packets the bridge sent into each tap between @t1 and @t2. */
static gboolean tap_window(GArray *bridge, gint64 t1, gint64 t2, guint64 *src, guint64 *dst)
{
    const BridgeSample *a = NULL, *b = NULL;

    for (guint i = 0; i < bridge->len; i++) {
        const BridgeSample *s = &g_array_index(bridge, BridgeSample, i);

        if (s->t_us <= t1) {
            a = s;
        }
        if (s->t_us <= t2) {
            b = s;
        }
    }
    if (!a || !b || b->t_us < t2 - 100000) {
        return FALSE;  /* the window is not covered by samples */
    }
    *src = b->src_tx - a->src_tx;
    *dst = b->dst_tx - a->dst_tx;
    return TRUE;
}

void netprobe_finish(NetProbe *p, NetResult *out)
{
    g_autoptr(GArray) replies = g_array_new(FALSE, FALSE, sizeof(gint64));
    gint64 start, end, gap_start;

    memset(out, 0, sizeof(*out));
    g_mutex_lock(&p->lock);
    p->stop_us = drv_now_us();
    g_mutex_unlock(&p->lock);
    stop_thread(p);
    start = p->mig_start_us ? p->mig_start_us : p->stop_us;
    end = p->stop_us;

    for (guint i = 0; i < p->pings->len; i++) {
        const PingRec *r = &g_array_index(p->pings, PingRec, i);

        if (r->sent_us >= start && r->sent_us <= end - LOSS_GRACE_US) {
            out->pings_sent++;
            out->pings_lost += r->reply_us == 0;
        }
        if (r->reply_us) {
            g_array_append_val(replies, r->reply_us);
        }
    }
    out->longest_gap_ms = longest_gap(replies, start, end, &gap_start);
    out->gap_start_s = (gap_start - start) / 1e6;

    out->tcp_survived = !p->tcp_error;
    out->tcp_error = g_strdup(p->tcp_error);
    for (guint i = 0; i < p->echoes->len; i++) {
        gint64 t = g_array_index(p->echoes, gint64, i);

        out->tcp_echoes += t >= start && t <= end;
    }
    out->tcp_longest_gap_ms = longest_gap(p->echoes, start, p->tcp_error ? p->tcp_error_us : end,
                                          &gap_start);
    if (out->tcp_survived && out->tcp_longest_gap_ms > 0 &&
        (p->echoes->len == 0 ||
         g_array_index(p->echoes, gint64, p->echoes->len - 1) < end - LOSS_GRACE_US)) {
        out->tcp_survived = FALSE;
        out->tcp_error = g_strdup("no echo in the last second: the connection is stuck");
    }

    out->port_before = NET_PORT_NONE;
    out->port_at_end = NET_PORT_NONE;
    out->moved_after_complete_ms = 0;
    for (guint i = 0; i < p->bridge->len; i++) {
        const BridgeSample *s = &g_array_index(p->bridge, BridgeSample, i);

        if (s->t_us <= start) {
            out->port_before = s->port;
        }
        if (s->t_us >= start && s->port == NET_PORT_DST && !out->moved_to_dst) {
            out->moved_to_dst = TRUE;
            out->moved_after_complete_ms =
                p->complete_us ? (s->t_us - p->complete_us) / 1000.0 : 0;
        }
        out->port_at_end = s->port;
    }
    out->completed = p->complete_us != 0;
    out->switchover_gap_ms = -1;
    if (out->moved_to_dst) {
        gint64 moved_us = p->complete_us + (gint64)(out->moved_after_complete_ms * 1000);
        gint64 real_minus_mono = g_get_real_time() - drv_now_us();
        gint64 gap_start = 0, gap_end = 0;

        out->switchover_gap_ms = gap_ending_near(replies, start, moved_us, &gap_start, &gap_end);
        out->mac_moved_real_us = moved_us + real_minus_mono;
        if (gap_end) {
            out->gap_last_reply_real_us = gap_start + real_minus_mono;
            out->gap_first_reply_real_us = gap_end + real_minus_mono;
        }
    }
    out->first_announce_real_us = p->first_announce_real_us;
    out->first_guest_frame_real_us = p->first_guest_frame_real_us;
    if (p->complete_us) {
        out->have_tap_window = tap_window(p->bridge, p->complete_us + G_USEC_PER_SEC,
                                          p->complete_us + 2 * G_USEC_PER_SEC,
                                          &out->src_tap_packets, &out->dst_tap_packets);
    }
    probe_free(p);
}

void netresult_clear(NetResult *r)
{
    g_free(r->tcp_error);
    memset(r, 0, sizeof(*r));
}
