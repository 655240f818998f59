/*
 * pingblock: a bare-metal guest for the switchover bench.
 *
 * A Linux guest under TCG needs 27-51 ms after its vCPUs run on the
 * destination before it answers a ping, even when every page is already
 * there (its translation cache starts empty): more than the whole gap
 * issue 17 aims at.  This guest's network path is a few hundred
 * instructions, so the gap it shows is the migration's own.
 *
 * Loaded with -kernel as a multiboot ELF (32-bit protected mode, no
 * paging).  It drives a legacy virtio-net device by polling, answers ARP,
 * ICMP echo and a TCP echo service on port 7 (the driver's network
 * probe), and rewrites every page of a hot set, checking the previous
 * pass's pattern first.  Serial lines follow the Linux workload's
 * protocol: "mig: READY", "mig: sec=N errors=E", "mig: CORRUPT ...".
 *
 * Command line: mig.hot_mb=N (default 64), mig.ip=A.B.C.D[/P].
 */
#include <stddef.h>
#include <stdint.h>

#define MB_MAGIC        0x1BADB002u
#define MB_FLAGS        0x00000003u     /* aligned modules, memory info */
#define MB_BOOT_MAGIC   0x2BADB002u
#define MB_INFO_CMDLINE (1u << 2)

__attribute__((section(".multiboot"), used, aligned(4)))
static const uint32_t multiboot_header[3] = {
    MB_MAGIC, MB_FLAGS, (uint32_t)-(MB_MAGIC + MB_FLAGS)
};

uint8_t pb_stack[16384] __attribute__((aligned(16)));

void pb_main(uint32_t magic, uint32_t mbi);

__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    cli\n"
        "    movl $pb_stack + 16384, %esp\n"
        "    pushl %ebx\n"
        "    pushl %eax\n"
        "    call pb_main\n"
        "1:  hlt\n"
        "    jmp 1b\n");

#define HOT_BASE        0x01000000u     /* 16 MiB */
#define PAGE_SIZE       4096u
#define COM1            0x3f8
#define ECHO_PORT       7

/* Port I/O */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* The device reads what we wrote before the notify: x86 keeps stores in order */
#define barrier() __asm__ volatile("" : : : "memory")

static void *mem_copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    while (n--) {
        *d++ = *s++;
    }
    return dst;
}

static void mem_zero(void *dst, size_t n)
{
    uint8_t *d = dst;

    while (n--) {
        *d++ = 0;
    }
}

/* Serial output (no division by 64-bit values: there is no libgcc) */
static void put_char(char c)
{
    while (!(inb(COM1 + 5) & 0x20)) {
    }
    outb(COM1, (uint8_t)c);
}

static void put_str(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void put_u32(uint32_t v)
{
    char buf[11];
    int i = 0;

    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i) {
        put_char(buf[--i]);
    }
}

static void put_hex(uint32_t v)
{
    put_str("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        put_char("0123456789abcdef"[(v >> shift) & 0xf]);
    }
}

/* Command line */
static const char *find_arg(const char *cmdline, const char *key)
{
    for (const char *p = cmdline; p && *p; p++) {
        const char *k = key, *q = p;

        if (p != cmdline && p[-1] != ' ') {
            continue;
        }
        while (*k && *q == *k) {
            k++;
            q++;
        }
        if (!*k) {
            return q;
        }
    }
    return NULL;
}

static uint32_t parse_u32(const char **pp)
{
    const char *p = *pp;
    uint32_t v = 0;

    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint32_t)(*p++ - '0');
    }
    *pp = p;
    return v;
}

/* Big-endian fields */
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
    for (; len > 1; len -= 2, p += 2) {
        sum += get16(p);
    }
    if (len) {
        sum += (uint32_t)p[0] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* PCI configuration space, mechanism 1 */
static uint32_t pci_read(uint32_t dev, uint32_t reg)
{
    outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
    return inl(0xcfc);
}

static void pci_write(uint32_t dev, uint32_t reg, uint32_t v)
{
    outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
    outl(0xcfc, v);
}

/* Legacy virtio-PCI (QEMU's transitional virtio-net-pci) */
#define VIRTIO_HOST_FEATURES    0x00
#define VIRTIO_GUEST_FEATURES   0x04
#define VIRTIO_QUEUE_PFN        0x08
#define VIRTIO_QUEUE_NUM        0x0c
#define VIRTIO_QUEUE_SEL        0x0e
#define VIRTIO_QUEUE_NOTIFY     0x10
#define VIRTIO_STATUS           0x12
#define VIRTIO_NET_MAC          0x14    /* device config, without MSI-X */
#define VIRTIO_NET_F_MAC        (1u << 5)
#define VIRTQ_DESC_F_WRITE      2
#define VNET_HDR_LEN            10      /* legacy header, no mergeable buffers */
#define QUEUE_MAX               1024
#define RX_BUFS                 64
#define TX_BUFS                 16
#define BUF_SIZE                2048

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

typedef struct Virtq {
    uint16_t size;
    uint16_t last_used;
    struct vring_desc *desc;
    volatile uint16_t *avail;   /* flags, idx, ring[size] */
    volatile uint16_t *used;    /* flags, idx, then used elements */
} Virtq;

/* One queue's ring: 1024 entries (QEMU's legacy queue size) fit in 8 pages */
static uint8_t rx_ring[8 * PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t tx_ring[8 * PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint8_t rx_bufs[RX_BUFS][BUF_SIZE];
static uint8_t tx_bufs[TX_BUFS][BUF_SIZE];

static uint16_t vio;            /* I/O base */
static Virtq rxq, txq;
static uint32_t tx_next;        /* next tx buffer to use */
static uint8_t my_mac[6];
static uint8_t my_ip[4];

static volatile struct vring_used_elem *used_elem(Virtq *q, uint16_t i)
{
    return (volatile struct vring_used_elem *)(q->used + 2) + (i % q->size);
}

static int virtq_setup(Virtq *q, uint16_t index, uint8_t *ring)
{
    uint32_t avail_end;

    outw(vio + VIRTIO_QUEUE_SEL, index);
    q->size = inw(vio + VIRTIO_QUEUE_NUM);
    if (!q->size || q->size > QUEUE_MAX) {
        return -1;
    }
    mem_zero(ring, sizeof(rx_ring));
    q->desc = (struct vring_desc *)ring;
    q->avail = (volatile uint16_t *)(ring + 16u * q->size);
    avail_end = 16u * q->size + 2u * (3u + q->size);
    q->used = (volatile uint16_t *)(ring + ((avail_end + PAGE_SIZE - 1) &
                                            ~(PAGE_SIZE - 1)));
    q->last_used = 0;
    outl(vio + VIRTIO_QUEUE_PFN, (uint32_t)ring >> 12);
    return 0;
}

static void rx_post(uint16_t id)
{
    uint16_t idx = rxq.avail[1];

    rxq.avail[2 + idx % rxq.size] = id;
    barrier();
    rxq.avail[1] = (uint16_t)(idx + 1);
    barrier();
    outw(vio + VIRTIO_QUEUE_NOTIFY, 0);
}

static int net_init(void)
{
    uint32_t dev;

    for (dev = 0; dev < 32; dev++) {
        uint32_t id = pci_read(dev, 0);

        if ((id & 0xffff) == 0x1af4 && (id >> 16) == 0x1000) {
            break;
        }
    }
    if (dev == 32) {
        put_str("mig: ERROR no legacy virtio-net device\n");
        return -1;
    }
    vio = (uint16_t)(pci_read(dev, 0x10) & ~3u);
    pci_write(dev, 0x04, pci_read(dev, 0x04) | 0x5);   /* I/O, bus master */

    outb(vio + VIRTIO_STATUS, 0);
    outb(vio + VIRTIO_STATUS, 1 | 2);                  /* acknowledge, driver */
    outl(vio + VIRTIO_GUEST_FEATURES,
         inl(vio + VIRTIO_HOST_FEATURES) & VIRTIO_NET_F_MAC);
    for (int i = 0; i < 6; i++) {
        my_mac[i] = inb(vio + VIRTIO_NET_MAC + i);
    }
    if (virtq_setup(&rxq, 0, rx_ring) || virtq_setup(&txq, 1, tx_ring)) {
        put_str("mig: ERROR virtio-net queue size ");
        put_u32(rxq.size);
        put_str(" ");
        put_u32(txq.size);
        put_str(" io=");
        put_hex(vio);
        put_str("\n");
        return -1;
    }
    for (uint16_t i = 0; i < RX_BUFS && i < rxq.size; i++) {
        rxq.desc[i].addr = (uint32_t)rx_bufs[i];
        rxq.desc[i].len = BUF_SIZE;
        rxq.desc[i].flags = VIRTQ_DESC_F_WRITE;
        rxq.avail[2 + i] = i;
    }
    barrier();
    rxq.avail[1] = (uint16_t)(RX_BUFS < rxq.size ? RX_BUFS : rxq.size);
    outb(vio + VIRTIO_STATUS, 1 | 2 | 4);              /* driver ok */
    outw(vio + VIRTIO_QUEUE_NOTIFY, 0);
    return 0;
}

/* A frame to send: the buffer after the virtio-net header */
static uint8_t *tx_frame(void)
{
    uint8_t *buf = tx_bufs[tx_next % TX_BUFS];

    /* Wait until the device is done with this buffer's last use */
    while ((uint16_t)(txq.avail[1] - txq.used[1]) >= TX_BUFS - 1) {
    }
    mem_zero(buf, VNET_HDR_LEN);
    return buf + VNET_HDR_LEN;
}

static void tx_send(uint32_t len)
{
    uint16_t id = (uint16_t)(tx_next % TX_BUFS);
    uint16_t idx = txq.avail[1];

    if (len < 60) {
        mem_zero(tx_bufs[id] + VNET_HDR_LEN + len, 60 - len);
        len = 60;
    }
    txq.desc[id].addr = (uint32_t)tx_bufs[id];
    txq.desc[id].len = VNET_HDR_LEN + len;
    txq.desc[id].flags = 0;
    txq.avail[2 + idx % txq.size] = id;
    barrier();
    txq.avail[1] = (uint16_t)(idx + 1);
    barrier();
    outw(vio + VIRTIO_QUEUE_NOTIFY, 1);
    tx_next++;
}

static void eth_reply_header(uint8_t *out, const uint8_t *in, uint16_t type)
{
    mem_copy(out, in + 6, 6);
    mem_copy(out + 6, my_mac, 6);
    put16(out + 12, type);
}

static void handle_arp(const uint8_t *f, uint32_t len)
{
    const uint8_t *a = f + 14;
    uint8_t *o;

    if (len < 42 || get16(a + 6) != 1 || get32(a + 24) != get32(my_ip)) {
        return;
    }
    o = tx_frame();
    eth_reply_header(o, f, 0x0806);
    put16(o + 14, 1);
    put16(o + 16, 0x0800);
    o[18] = 6;
    o[19] = 4;
    put16(o + 20, 2);
    mem_copy(o + 22, my_mac, 6);
    mem_copy(o + 28, my_ip, 4);
    mem_copy(o + 32, a + 8, 10);        /* their hardware and IP address */
    tx_send(42);
}

/* IPv4 header of a reply to @in_ip, @payload bytes after it */
static void ip_reply_header(uint8_t *o, const uint8_t *in_ip, uint8_t proto,
                            uint32_t payload)
{
    mem_zero(o, 20);
    o[0] = 0x45;
    put16(o + 2, (uint16_t)(20 + payload));
    o[8] = 64;
    o[9] = proto;
    mem_copy(o + 12, my_ip, 4);
    mem_copy(o + 16, in_ip + 12, 4);
    put16(o + 10, csum_fold(csum_add(0, o, 20)));
}

static void handle_icmp(const uint8_t *f, const uint8_t *ip, uint32_t ihl,
                        uint32_t total)
{
    const uint8_t *icmp = ip + ihl;
    uint32_t len = total - ihl;
    uint8_t *o;

    if (len < 8 || icmp[0] != 8 || len > BUF_SIZE - VNET_HDR_LEN - 34) {
        return;
    }
    o = tx_frame();
    eth_reply_header(o, f, 0x0800);
    ip_reply_header(o + 14, ip, 1, len);
    mem_copy(o + 34, icmp, len);
    o[34] = 0;                          /* echo reply */
    put16(o + 36, 0);
    put16(o + 36, csum_fold(csum_add(0, o + 34, len)));
    tx_send(34 + len);
}

/*
 * TCP echo: the echoed stream is the received one, so our sequence
 * numbers mirror the peer's (ours = our_isn + (theirs - their_isn)) and a
 * retransmitted segment is simply echoed again.
 */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

typedef struct TcpConn {
    uint32_t peer_ip;
    uint16_t peer_port;
    uint16_t used;
    uint32_t their_isn;
    uint32_t our_isn;
    uint32_t rcv_nxt;
} TcpConn;

static TcpConn conns[8];

static TcpConn *conn_find(uint32_t ip, uint16_t port)
{
    for (unsigned i = 0; i < 8; i++) {
        if (conns[i].used && conns[i].peer_ip == ip &&
            conns[i].peer_port == port) {
            return &conns[i];
        }
    }
    return NULL;
}

static void tcp_send(const uint8_t *f, const uint8_t *ip, const uint8_t *tcp,
                     uint32_t seq, uint32_t ack, uint8_t flags,
                     const uint8_t *data, uint32_t len)
{
    uint32_t hlen = (flags & TCP_SYN) ? 24 : 20;
    uint8_t *o = tx_frame();
    uint8_t *t = o + 34;
    uint32_t sum;

    eth_reply_header(o, f, 0x0800);
    ip_reply_header(o + 14, ip, 6, hlen + len);
    mem_zero(t, hlen);
    put16(t, get16(tcp + 2));
    put16(t + 2, get16(tcp));
    put32(t + 4, seq);
    put32(t + 8, ack);
    t[12] = (uint8_t)(hlen / 4) << 4;
    t[13] = flags;
    put16(t + 14, 65535);
    if (flags & TCP_SYN) {
        t[20] = 2;                      /* MSS 1460 */
        t[21] = 4;
        put16(t + 22, 1460);
    }
    mem_copy(t + hlen, data, len);
    sum = csum_add(0, o + 14 + 12, 8);  /* pseudo header: addresses */
    sum += 6 + hlen + len;
    sum = csum_add(sum, t, hlen + len);
    put16(t + 16, csum_fold(sum));
    tx_send(34 + hlen + len);
}

static void handle_tcp(const uint8_t *f, const uint8_t *ip, uint32_t ihl,
                       uint32_t total)
{
    const uint8_t *tcp = ip + ihl;
    uint32_t peer = get32(ip + 12), seq, doff, len;
    uint16_t port;
    uint8_t flags;
    TcpConn *c;

    if (total < ihl + 20 || get16(tcp + 2) != ECHO_PORT) {
        return;
    }
    port = get16(tcp);
    seq = get32(tcp + 4);
    doff = (uint32_t)(tcp[12] >> 4) * 4;
    flags = tcp[13];
    if (doff < 20 || total < ihl + doff) {
        return;
    }
    len = total - ihl - doff;
    c = conn_find(peer, port);
    if (flags & TCP_RST) {
        if (c) {
            c->used = 0;
        }
        return;
    }
    if ((flags & TCP_SYN) && !(flags & TCP_ACK)) {
        if (!c) {
            for (unsigned i = 0; i < 8 && !c; i++) {
                c = conns[i].used ? NULL : &conns[i];
            }
            if (!c) {
                c = &conns[port % 8];
            }
        }
        c->used = 1;
        c->peer_ip = peer;
        c->peer_port = port;
        c->their_isn = seq;
        c->our_isn = 0x5eed0000u ^ ((uint32_t)port << 8);
        c->rcv_nxt = seq + 1;
        tcp_send(f, ip, tcp, c->our_isn, c->rcv_nxt, TCP_SYN | TCP_ACK,
                 NULL, 0);
        return;
    }
    if (!c) {
        return;
    }
    if (len) {
        if ((int32_t)(seq - c->rcv_nxt) > 0) {
            /* A hole before it: ask again for what is missing */
            tcp_send(f, ip, tcp, c->our_isn + (c->rcv_nxt - c->their_isn),
                     c->rcv_nxt, TCP_ACK, NULL, 0);
            return;
        }
        if ((int32_t)(seq + len - c->rcv_nxt) > 0) {
            c->rcv_nxt = seq + len;
        }
        tcp_send(f, ip, tcp, c->our_isn + (seq - c->their_isn), c->rcv_nxt,
                 TCP_ACK | TCP_PSH, tcp + doff, len);
    }
    if ((flags & TCP_FIN) && seq + len == c->rcv_nxt) {
        c->rcv_nxt++;
        tcp_send(f, ip, tcp, c->our_isn + (seq + len - c->their_isn),
                 c->rcv_nxt, TCP_FIN | TCP_ACK, NULL, 0);
        c->used = 0;
    }
}

static void handle_ipv4(const uint8_t *f, uint32_t len)
{
    const uint8_t *ip = f + 14;
    uint32_t ihl, total;

    if (len < 34 || (ip[0] >> 4) != 4) {
        return;
    }
    ihl = (uint32_t)(ip[0] & 0xf) * 4;
    total = get16(ip + 2);
    if (ihl < 20 || total < ihl || total > len - 14 ||
        get32(ip + 16) != get32(my_ip) || (get16(ip + 6) & 0x3fff)) {
        return;                         /* not ours, or a fragment */
    }
    if (ip[9] == 1) {
        handle_icmp(f, ip, ihl, total);
    } else if (ip[9] == 6) {
        handle_tcp(f, ip, ihl, total);
    }
}

static void net_poll(void)
{
    while (rxq.used[1] != rxq.last_used) {
        volatile struct vring_used_elem *e = used_elem(&rxq, rxq.last_used);
        uint16_t id = (uint16_t)e->id;
        uint32_t len = e->len;

        barrier();
        if (id < RX_BUFS && len > VNET_HDR_LEN) {
            const uint8_t *frame = rx_bufs[id] + VNET_HDR_LEN;
            uint16_t type = get16(frame + 12);

            len -= VNET_HDR_LEN;
            if (len >= 14 && type == 0x0806) {
                handle_arp(frame, len);
            } else if (len >= 14 && type == 0x0800) {
                handle_ipv4(frame, len);
            }
        }
        rxq.last_used++;
        if (id < RX_BUFS) {
            rx_post(id);
        }
    }
}

/* TSC ticks per millisecond, from 10 ms of PIT channel 2 */
static uint32_t tsc_per_ms(void)
{
    uint64_t t0, t1;

    outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
    outb(0x43, 0xb0);                   /* channel 2, mode 0, both bytes */
    outb(0x42, 11932 & 0xff);
    outb(0x42, 11932 >> 8);
    t0 = rdtsc();
    while (!(inb(0x61) & 0x20)) {
    }
    t1 = rdtsc();
    return (uint32_t)(t1 - t0) / 10;
}

void pb_main(uint32_t magic, uint32_t mbi)
{
    const char *cmdline = "";
    const char *v;
    uint32_t hot_pages, pass = 0, errors = 0, sec = 0, reported = 0;
    uint64_t ticks_per_sec, next_sec;

    if (magic == MB_BOOT_MAGIC &&
        (((const uint32_t *)mbi)[0] & MB_INFO_CMDLINE)) {
        cmdline = (const char *)((const uint32_t *)mbi)[4];
    }
    v = find_arg(cmdline, "mig.hot_mb=");
    hot_pages = (v ? parse_u32(&v) : 64) * (1024 * 1024 / PAGE_SIZE);
    v = find_arg(cmdline, "mig.ip=");
    for (int i = 0; v && i < 4; i++) {
        my_ip[i] = (uint8_t)parse_u32(&v);
        v += (*v == '.');
    }
    if (net_init() < 0) {
        for (;;) {
            __asm__ volatile("hlt");
        }
    }
    ticks_per_sec = (uint64_t)tsc_per_ms() * 1000;
    next_sec = rdtsc() + ticks_per_sec;
    put_str("mig: pingblock hot_pages=");
    put_u32(hot_pages);
    put_str("\nmig: READY\n");

    for (;; pass++) {
        for (uint32_t p = 0; p < hot_pages; p++) {
            volatile uint32_t *w = (volatile uint32_t *)(HOT_BASE +
                                                         p * PAGE_SIZE);

            if (pass && (w[0] != pass - 1 || w[1] != (p ^ 0x6d696700u) ||
                         w[PAGE_SIZE / 4 - 1] != pass - 1)) {
                if (errors++ < 10) {
                    put_str("mig: CORRUPT page=");
                    put_u32(p);
                    put_str(" expected=");
                    put_u32(pass - 1);
                    put_str(" found=");
                    put_hex(w[0]);
                    put_str("\n");
                }
            }
            /* The whole page, as the Linux workload does */
            for (uint32_t i = 2; i < PAGE_SIZE / 4; i++) {
                w[i] = pass;
            }
            w[1] = p ^ 0x6d696700u;
            w[0] = pass;
            if ((p & 7) == 0) {
                net_poll();
                if (rdtsc() >= next_sec) {
                    next_sec += ticks_per_sec;
                    put_str("mig: sec=");
                    put_u32(++sec);
                    put_str(" errors=");
                    put_u32(errors);
                    put_str(" passes=");
                    put_u32(pass - reported);
                    put_str("\n");
                    reported = pass;
                }
            }
        }
    }
}
