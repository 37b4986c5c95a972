"""A seccomp-BPF filter for workers: the kernel-level backstop behind the audit hook.

If user code ever got past the interpreter-level guards (e.g. through a memory-safety bug in a native
library), it still could not create processes, open files, use the network or touch other processes.
Written by hand with ctypes because no dependency is needed for ~40 instructions; x86-64 only (other
architectures run without it and report `seccomp: false`).
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000

_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000

# x86-64 syscall numbers refused with EPERM: process creation and exec, sockets, files and directories,
# signals and tracing of other processes, namespaces, kernel facilities.
DENIED_SYSCALLS_X86_64 = {
    "open": 2,
    "socket": 41,
    "connect": 42,
    "accept": 43,
    "bind": 49,
    "listen": 50,
    "socketpair": 53,
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "kill": 62,
    "truncate": 76,
    "rename": 82,
    "mkdir": 83,
    "rmdir": 84,
    "creat": 85,
    "link": 86,
    "unlink": 87,
    "symlink": 88,
    "chmod": 90,
    "chown": 92,
    "lchown": 94,
    "ptrace": 101,
    "mknod": 133,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "init_module": 175,
    "delete_module": 176,
    "tkill": 200,
    "tgkill": 234,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "openat": 257,
    "mkdirat": 258,
    "mknodat": 259,
    "fchownat": 260,
    "unlinkat": 263,
    "renameat": 264,
    "linkat": 265,
    "symlinkat": 266,
    "fchmodat": 268,
    "unshare": 272,
    "accept4": 288,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "renameat2": 316,
    "bpf": 321,
    "execveat": 322,
    "userfaultfd": 323,
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "pidfd_open": 434,
    "openat2": 437,
    "pidfd_getfd": 438,
}
_CLONE = 56
_CLONE3 = 435


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() == "x86_64"


def build_filter() -> bytes:
    """The BPF program as packed `struct sock_filter` entries."""
    program: list[tuple[int, int | str, int | str, int]] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        (_RET, 0, 0, _RET_KILL_PROCESS),  # i386 entry points (int 0x80) never pass
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE, "deny", 0, _X32_SYSCALL_BIT),
        (_JEQ, "clone", 0, _CLONE),
        (_JEQ, "nosys", 0, _CLONE3),  # its flags live in memory BPF cannot read: make libc fall back
    ]
    program += [(_JEQ, "deny", 0, number) for number in sorted(DENIED_SYSCALLS_X86_64.values())]
    labels = {"allow": len(program)}
    program.append((_RET, 0, 0, _RET_ALLOW))
    labels["clone"] = len(program)
    program.append((_LD_W_ABS, 0, 0, 16))  # low half of args[0], the clone flags
    program.append((_JSET, "allow_thread", "deny", _CLONE_THREAD))  # threads yes, processes no
    labels["allow_thread"] = len(program)
    program.append((_RET, 0, 0, _RET_ALLOW))
    labels["deny"] = len(program)
    program.append((_RET, 0, 0, _RET_ERRNO | errno.EPERM))
    labels["nosys"] = len(program)
    program.append((_RET, 0, 0, _RET_ERRNO | errno.ENOSYS))

    def offset(index: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - index - 1
        if not 0 <= jump <= 255:
            raise ValueError("seccomp jump out of range")
        return jump

    return b"".join(
        struct.pack("=HBBI", code, offset(i, jt), offset(i, jf), k)
        for i, (code, jt, jf, k) in enumerate(program)
    )


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> bool:
    """Install the filter in this process (irreversible); False if the platform is not supported."""
    if not supported():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    program = build_filter()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
    return True
