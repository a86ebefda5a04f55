"""Keeps one GPU architecture's code in a CUDA shared library's fat binaries, to make it small enough to carry.

    python3 prune_fatbin.py LIB ARCH     (ARCH as in sm_ARCH / compute_ARCH, e.g. 90)

Each fat binary in the .nv_fatbin section keeps only its entries for ARCH (the cubin, else the PTX the
driver compiles at load) and is zero-filled to its old size, so every pointer into the section stays
valid; zeros compress to nothing. Fails if any fat binary has no entry for ARCH.
"""
import struct
import sys

MAGIC = 0xBA55ED50


def section(data, wanted):
    shoff = struct.unpack_from('<Q', data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    headers = [struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    for name, _, _, _, off, size in headers:
        if data[strtab + name:data.index(b'\0', strtab + name)].decode() == wanted:
            return off, size
    raise SystemExit(f'no {wanted} section')


def main(path, arch):
    data = bytearray(open(path, 'rb').read())
    off, size = section(data, '.nv_fatbin')
    p, end, kept, dropped, binaries = off, off + size, 0, 0, 0
    while p < end:
        if struct.unpack_from('<I', data, p)[0] != MAGIC:
            p += 8
            continue
        _, _, header, fat = struct.unpack_from('<IHHQ', data, p)
        q, stop, entries = p + header, p + header + fat, []
        while q < stop:
            kind, _, eheader, payload = struct.unpack_from('<HHIQ', data, q)
            entries.append((kind, struct.unpack_from('<I', data, q + 28)[0], bytes(data[q:q + eheader + payload])))
            q += eheader + payload
        if q != stop:
            raise SystemExit(f'fat binary at {p} does not parse')
        keep = [e for e in entries if e[0] == 2 and e[1] == arch] or [e for e in entries if e[0] == 1 and e[1] == arch]
        if not keep:
            raise SystemExit(f'fat binary at {p} has no code for {arch}: {[(k, a) for k, a, _ in entries]}')
        body = b''.join(e[2] for e in keep)
        struct.pack_into('<Q', data, p + 8, len(body))
        data[p + header:stop] = body + bytes(fat - len(body))
        kept += len(body)
        dropped += fat - len(body)
        binaries += 1
        p = stop
    open(path, 'wb').write(data)
    print(f'{path}: {binaries} fat binaries, kept {kept / 1e6:.1f} MB for {arch}, zeroed {dropped / 1e6:.1f} MB')


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
