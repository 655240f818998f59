/*
 * The network probe: a client in its own network namespace pings the
 * guest and keeps a TCP echo connection open across the migration, while
 * the driver samples the bridge and the destination's tap.
 */
#include "netprobe-priv.h"

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

/* What an Ethernet frame carries, to say what the guest sent first */
static void frame_kind(const guint8 *frame, size_t len, char *out, size_t size)
{
    guint16 type = (guint16)((frame[12] << 8) | frame[13]);

    if (type == ETH_P_ARP) {
        g_strlcpy(out, "arp", size);
    } else if (type == ETH_P_IP && len >= ETH_HLEN + 20) {
        guint8 proto = frame[ETH_HLEN + 9];

        g_strlcpy(out, proto == IPPROTO_ICMP ? "icmp" : proto == IPPROTO_TCP ? "tcp" :
                  proto == IPPROTO_UDP ? "udp" : "ip", size);
    } else if (type == ETH_P_IPV6) {
        g_strlcpy(out, "ipv6", size);
    } else {
        g_snprintf(out, size, "0x%04x", type);
    }
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
            frame_kind(frame, (size_t)n, p->first_guest_frame_kind,
                       sizeof(p->first_guest_frame_kind));
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

void netprobe_stop_thread(NetProbe *p)
{
    if (p->thread) {
        g_mutex_lock(&p->lock);
        p->stop = TRUE;
        g_mutex_unlock(&p->lock);
        g_thread_join(p->thread);
        p->thread = NULL;
    }
}

void netprobe_free(NetProbe *p)
{
    netprobe_stop_thread(p);
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
    netprobe_free(p);
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
