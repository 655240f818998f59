/* The probe's echoes: ICMP pings and a TCP echo connection to the guest. */
#include "netprobe-priv.h"

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

void send_ping(NetProbe *p, gint64 now)
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

void receive_pings(NetProbe *p, gint64 now)
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

void tcp_fail(NetProbe *p, gint64 now, const char *what, int err)
{
    if (!p->tcp_error) {
        p->tcp_error = err ? g_strdup_printf("%s: %s", what, g_strerror(err)) : g_strdup(what);
        p->tcp_error_us = now;
    }
}

void send_tcp(NetProbe *p, gint64 now)
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

void receive_tcp(NetProbe *p, gint64 now)
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

int open_tcp(NetProbe *p, GString *why)
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
