/*
 * Boot-sector guest for migaccel KVM/TCG migration tests.
 *
 * BIOS loads this sector at 0x7c00 in real mode.  It enables A20, loads a
 * flat GDT, enters 32-bit protected mode, writes 'A' to COM1 and then loops
 * forever: increment one byte in every 4 KiB page from 1 MiB up to 100 MiB,
 * then write 'B'.  Each pass dirties ~25k pages, so a migration has work to
 * do, and the stream of B's shows the vCPU kept running across it.
 * The guest needs at least 100 MiB of RAM (QEMU's default 128 MiB is fine).
 */
    .equ    COM1,        0x3f8
    .equ    DIRTY_START, 0x00100000 /* 1 MiB: above the BIOS and this code */
    .equ    DIRTY_END,   0x06400000 /* 100 MiB */
    .equ    PAGE,        0x1000
    .equ    CODE_SEL,    0x08
    .equ    DATA_SEL,    0x10

    .code16
    .section .text
    .globl _start
_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %ss
    movw    $0x7c00, %sp

    /* "Fast A20" through port 0x92; without it odd MiBs alias even ones. */
    inb     $0x92, %al
    orb     $0x02, %al
    andb    $0xfe, %al              /* bit 0 would reset the machine */
    outb    %al, $0x92

    lgdt    gdt_desc
    movl    %cr0, %eax
    orl     $1, %eax                /* CR0.PE */
    movl    %eax, %cr0
    ljmp    $CODE_SEL, $protected   /* reload CS with the 32-bit segment */

    .code32
protected:
    movw    $DATA_SEL, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs
    movl    $0x7c00, %esp

    movw    $COM1, %dx              /* QEMU's UART needs no setup to transmit */
    movb    $'A', %al
    outb    %al, %dx

pass:
    movl    $DIRTY_START, %ebx
page:
    incb    (%ebx)
    addl    $PAGE, %ebx
    cmpl    $DIRTY_END, %ebx
    jb      page
    movb    $'B', %al
    outb    %al, %dx
    jmp     pass

    /* Flat 4 GiB code and data segments. */
    .balign 8
gdt:
    .quad   0                       /* null descriptor */
    .quad   0x00cf9a000000ffff      /* 0x08: code, base 0, limit 4G, 32-bit, r-x */
    .quad   0x00cf92000000ffff      /* 0x10: data, base 0, limit 4G, 32-bit, rw- */
gdt_end:
gdt_desc:
    .word   gdt_end - gdt - 1
    .long   gdt
