/*
 * The fidelity guest: a multiboot kernel (32-bit protected mode, no OS) that dirties exactly PAGES pages of
 * guest RAM per pass, forever. Each pass increments one 32-bit word in each of PAGES consecutive pages from
 * DIRTY_BASE; a pass takes far less than a checkpoint interval under TCG, so every epoch dirties all of them
 * and nothing else (no stack, no counter page). Prints "ready\n" on COM1 once, so the runner knows it runs.
 *
 * Assembled per size:  as --32 --defsym PAGES=N -o guest.o guest.S
 *                      ld -m elf_i386 -Ttext 0x100000 -e start -o guest.elf guest.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .set DIRTY_BASE, 0x01000000     /* 16 MiB: clear of the kernel and the firmware */
        .set COM1, 0x3f8

        .text
        .align 4
multiboot_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .globl start
start:
        cli
        mov $COM1, %dx
        mov $banner, %esi
1:      lodsb
        test %al, %al
        jz pass
        out %al, %dx
        jmp 1b

pass:
        mov $DIRTY_BASE, %eax
        mov $PAGES, %ecx
        test %ecx, %ecx
        jz idle
2:      incl (%eax)
        add $4096, %eax
        dec %ecx
        jnz 2b
        jmp pass

idle:
        hlt
        jmp idle

banner:
        .asciz "ready\n"
