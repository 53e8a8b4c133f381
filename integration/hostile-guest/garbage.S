/*
 * A hostile guest "kernel" for runvm's end-to-end tests: an ELF that the
 * VMM boots like a vmlinux (64-bit Linux boot protocol, entered in long
 * mode with the VMM's identity map of the first GiB). It
 *   1. maps the 4th GiB (the virtio-mmio windows at 0xd0000000) itself,
 *   2. fills 16 MiB of RAM at 32 MiB with pseudo-random bytes,
 *   3. reads and writes pseudo-random values to every 32-bit register of
 *      the first two virtio-mmio windows, 8 times over,
 *   4. drives each device through a plausible initialisation whose queues
 *      (sizes, ring addresses) are random and point into the random RAM,
 *      re-randomised between queue notifications, 16 times over,
 *   5. triple-faults (an empty IDT, then int3).
 * The VMM must survive all of it and end the VM as a reset.
 * Assembled by integration/e2e.rs with the system's cc.
 */
	.code64
	.text
	.globl _start

/* r8 = xorshift64(r8) */
.macro RAND
	mov %r8, %r9
	shl $13, %r9
	xor %r9, %r8
	mov %r8, %r9
	shr $7, %r9
	xor %r9, %r8
	mov %r8, %r9
	shl $17, %r9
	xor %r9, %r8
.endm

/* fill [\start, \end) with random quadwords */
.macro FILL start, end
	mov $\start, %rdi
1:	RAND
	mov %r8, (%rdi)
	add $8, %rdi
	cmp $\end, %rdi
	jne 1b
.endm

#define MMIO_BASE	0xd0000000
#define MMIO_END	0xd0002000
#define GARBAGE		0x2000000
#define GARBAGE_END	0x3000000
#define RING_WINDOW	0x10000

_start:
	cli
	/* 1. PDPT[3] of the boot page tables -> our page directory (2 MiB
	 * pages, uncached) for 0xc0000000..0xffffffff. */
	mov %cr3, %rax
	and $~0xfff, %rax
	mov (%rax), %rbx
	and $~0xfff, %rbx
	lea pd(%rip), %rdi
	mov %rdi, %rcx
	or $0x3, %rcx
	mov %rcx, 24(%rbx)
	xor %rsi, %rsi
	mov $0xc0000000, %rdx
	or $0x9b, %rdx
2:	mov %rdx, (%rdi,%rsi,8)
	add $0x200000, %rdx
	inc %rsi
	cmp $512, %rsi
	jne 2b
	mov %cr3, %rax
	mov %rax, %cr3

	/* 2. random RAM */
	mov $0x9e3779b97f4a7c15, %r8
	FILL GARBAGE, GARBAGE_END

	/* 3. every register, read and written, 8 times */
	mov $8, %r12
3:	mov $MMIO_BASE, %rdi
4:	mov (%rdi), %eax
	RAND
	mov %r8d, (%rdi)
	add $4, %rdi
	mov $MMIO_END, %rax
	cmp %rax, %rdi
	jne 4b
	dec %r12
	jnz 3b

	/* 4. plausible initialisation with random queues, 16 times */
	mov $16, %r12
5:	mov $MMIO_BASE, %rdi
6:	movl $0, 0x70(%rdi)		/* status: reset */
	movl $1, 0x70(%rdi)		/* ACKNOWLEDGE */
	movl $3, 0x70(%rdi)		/* DRIVER */
	movl $0, 0x24(%rdi)		/* DriverFeaturesSel */
	RAND
	mov %r8d, 0x20(%rdi)		/* DriverFeatures */
	movl $1, 0x24(%rdi)
	shr $32, %r8
	mov %r8d, 0x20(%rdi)
	movl $0xb, 0x70(%rdi)		/* FEATURES_OK */
	xor %r13, %r13
7:	mov %r13d, 0x30(%rdi)		/* QueueSel */
	RAND
	mov %r8d, 0x38(%rdi)		/* QueueNum: any value */
	/* ring addresses: random, inside the random RAM window */
	mov %r8, %rax
	shr $20, %rax
	and $(RING_WINDOW - 1), %rax
	add $GARBAGE, %rax
	mov %eax, 0x80(%rdi)		/* QueueDescLow */
	movl $0, 0x84(%rdi)
	add $0x1002, %rax		/* odd alignment on purpose */
	mov %eax, 0x90(%rdi)		/* QueueDriverLow */
	movl $0, 0x94(%rdi)
	add $0x3001, %rax
	mov %eax, 0xa0(%rdi)		/* QueueDeviceLow */
	movl $0, 0xa4(%rdi)
	movl $1, 0x44(%rdi)		/* QueueReady */
	inc %r13
	cmp $3, %r13
	jne 7b
	movl $0xf, 0x70(%rdi)		/* DRIVER_OK */
	/* notify every queue 8 times, with fresh garbage in the rings */
	mov $8, %r14
8:	push %rdi
	FILL GARBAGE, (GARBAGE + RING_WINDOW + 0x10000)
	pop %rdi
	movl $0, 0x50(%rdi)
	movl $1, 0x50(%rdi)
	movl $2, 0x50(%rdi)
	RAND
	mov %r8d, 0x50(%rdi)		/* and a queue that does not exist */
	mov %r8d, 0x64(%rdi)		/* InterruptACK: garbage */
	dec %r14
	jnz 8b
	add $0x1000, %rdi
	mov $MMIO_END, %rax
	cmp %rax, %rdi
	jne 6b
	dec %r12
	jnz 5b

	/* 5. triple fault */
	lidt null_idt(%rip)
	int3
9:	hlt
	jmp 9b

	.data
	.balign 16
null_idt:
	.word 0
	.quad 0
	.balign 4096
pd:
	.skip 4096
