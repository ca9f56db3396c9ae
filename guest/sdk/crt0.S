/*
 * The guest's entry point. The VMM enters here at CPL3 in long mode with
 * %rdi = the boot information and %rsp = the top of the stack, 16-byte
 * aligned, so the call below leaves the stack as the C ABI expects at
 * function entry. remora_start never returns.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp	/* ends the frame chain for debuggers */
	andq	$-16, %rsp	/* in case a VMM got the alignment wrong */
	call	remora_start
	ud2
	.size	_start, . - _start

	/* No executable stack. */
	.section .note.GNU-stack, "", @progbits
