#!/usr/bin/python3
"""Write the seed corpus of fuzz_nestfs: small sequences of FUSE request frames
(little endian, as on x86) that reach each operation. Run from anywhere."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "nestfs")
uniq = [100]


def frame(op, nodeid, body=b""):
    uniq[0] += 2
    return struct.pack("<IIQQIIIHH", 40 + len(body), op, uniq[0], nodeid, 0, 0, 0, 0, 0) + body


def name(s):
    return s.encode() + b"\0"


LOOKUP, FORGET, GETATTR, SETATTR, READLINK, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR = 1, 2, 3, 4, 5, 6, 8, 9, 10, 11
RENAME, LINK, OPEN, READ, WRITE, STATFS, RELEASE, FSYNC = 12, 13, 14, 15, 16, 17, 18, 20
SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR, FLUSH = 21, 22, 23, 24, 25
OPENDIR, READDIR, RELEASEDIR, GETLK, SETLK, SETLKW, ACCESS, CREATE, INTERRUPT = 27, 28, 29, 31, 32, 33, 34, 35, 36
BATCH_FORGET, READDIRPLUS, RENAME2, LSEEK, COPY = 42, 44, 45, 46, 47
# Node ids: root is 1; the first inode looked up gets (gen 1 << 32 | 2).
N2, N3 = (1 << 32) | 2, (1 << 32) | 3
FH0, FH1 = (1 << 32) | 0, (1 << 32) | 1

seeds = {
    "lookup_getattr": frame(LOOKUP, 1, name("f")) + frame(GETATTR, N2, struct.pack("<IIQ", 0, 0, 0)),
    "read": frame(LOOKUP, 1, name("f")) + frame(OPEN, N2, struct.pack("<II", 0, 0)) +
            frame(READ, N2, struct.pack("<QQIIQII", FH0, 0, 4096, 0, 0, 0, 0)) +
            frame(FLUSH, N2, struct.pack("<QIIQ", FH0, 0, 0, 7)) +
            frame(RELEASE, N2, struct.pack("<QIIQ", FH0, 0, 0, 0)),
    "readdirplus": frame(OPENDIR, 1, struct.pack("<II", 0, 0)) +
                   frame(READDIRPLUS, 1, struct.pack("<QQIIQII", FH0, 0, 4096, 0, 0, 0, 0)) +
                   frame(READDIR, 1, struct.pack("<QQIIQII", FH0, 0, 4096, 0, 0, 0, 0)) +
                   frame(RELEASEDIR, 1, struct.pack("<QIIQ", FH0, 0, 0, 0)),
    "create_write": frame(CREATE, 1, struct.pack("<IIII", 0o102, 0o644, 0, 0) + name("n")) +
                    frame(WRITE, N2, struct.pack("<QQIIQII", FH0, 0, 5, 0, 0, 0, 0) + b"hello") +
                    frame(FSYNC, N2, struct.pack("<QII", FH0, 0, 0)) +
                    frame(SETATTR, N2, struct.pack("<IIQQQQQQIIIIIIII", 8 | 64, 0, FH0, 2, 0, 0, 0, 0,
                                                   0, 0, 0, 0, 0, 0, 0, 0)) +
                    frame(LSEEK, N2, struct.pack("<QQII", FH0, 0, 3, 0)) +
                    frame(RELEASE, N2, struct.pack("<QIIQ", FH0, 0, 0, 0)) +
                    frame(UNLINK, 1, name("n")),
    "dirs": frame(MKDIR, 1, struct.pack("<II", 0o755, 0) + name("x")) +
            frame(RENAME, 1, struct.pack("<Q", 1) + name("x") + name("y")) +
            frame(RENAME2, 1, struct.pack("<QII", 1, 1, 0) + name("y") + name("d")) +
            frame(RMDIR, 1, name("y")) + frame(STATFS, 1),
    "links": frame(SYMLINK, 1, name("s") + name("f")) + frame(READLINK, N2) +
             frame(LOOKUP, 1, name("f")) + frame(LINK, 1, struct.pack("<Q", N3) + name("h")) +
             frame(MKNOD, 1, struct.pack("<IIII", 0o10644, 0, 0, 0) + name("p")) +
             frame(BATCH_FORGET, 0, struct.pack("<II", 2, 0) + struct.pack("<QQ", N2, 1) +
                   struct.pack("<QQ", N3, 5)),
    "xattr": frame(SETXATTR, 1, struct.pack("<II", 3, 0) + name("user.a") + b"abc") +
             frame(GETXATTR, 1, struct.pack("<II", 0, 0) + name("user.a")) +
             frame(LISTXATTR, 1, struct.pack("<II", 256, 0)) +
             frame(REMOVEXATTR, 1, name("user.a")) + frame(ACCESS, 1, struct.pack("<II", 7, 0)),
    "locks": frame(LOOKUP, 1, name("f")) + frame(OPEN, N2, struct.pack("<II", 2, 0)) +
             frame(SETLK, N2, struct.pack("<QQQQIIII", FH0, 9, 0, 99, 1, 0, 0, 0)) +
             frame(GETLK, N2, struct.pack("<QQQQIIII", FH0, 8, 0, 99, 1, 0, 0, 0)) +
             frame(SETLKW, N2, struct.pack("<QQQQIIII", FH0, 9, 0, 99, 2, 0, 1, 0)) +
             frame(INTERRUPT, 0, struct.pack("<Q", 5)) +
             frame(COPY, N2, struct.pack("<QQQQQQQ", FH0, 0, N2, FH0, 100, 10, 0)),
    "hostile": frame(LOOKUP, 1, name("..")) + frame(LOOKUP, 1, b"a/b\0") +
               frame(LOOKUP, 0xdeadbeef00000005, name("f")) + frame(FORGET, 1, struct.pack("<Q", 1 << 60)) +
               frame(READ, 1, struct.pack("<QQIIQII", 0xffffffffffffffff, 0, 0xffffffff, 0, 0, 0, 0)) +
               frame(LOOKUP, 1, b"x" * 300 + b"\0") + frame(99, 1),
}
os.makedirs(OUT, exist_ok=True)
for k, v in seeds.items():
    with open(os.path.join(OUT, k), "wb") as f:
        f.write(v)
print(f"{len(seeds)} seeds in {OUT}")
