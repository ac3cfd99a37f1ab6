#!/usr/bin/env python3
"""Hand-built HDF5 files that try to make a reader spend far more than the file's size.

    python3 tools/make_hostile_hdf5.py KIND OUT [--scale S]

KIND is one of:
  btree-copies      many groups, each with its own copy of one large group's B-tree root node (so each
                    looks like its own symbol table) and that group's local heap
  dense-shared      many datasets whose attribute info messages all point at one object's dense
                    attribute storage (fractal heap + name index) of thousands of attributes
  shared-attribute  many datasets whose attribute messages are all shared-message references to one
                    60 kB attribute in another object header (the first dataset has 40,000 of them)
  shared-overflow   one dataset with more shared attribute references to distinct object headers than
                    the old shared-message cache held (65,536), followed by many references to one large
                    object header
  shared-metadata   a root group whose attributes are thousands of shared-message references to one
                    60 kB string attribute: as metadata they would add up to hundreds of MB
  fill              a valid 1.4 kB file declaring a 3 GB float32 dataset that was never written (its
                    fill value is 1.5); with --scale S the dataset has S × 1,000,000 elements instead

Each file is a few MB, starts from what h5py writes and is then patched by hand where h5py cannot
write the structure. Recast's tests build them at run time (none is committed). --scale multiplies the
counts (default 1).
"""
import struct
import sys

import h5py
import numpy as np


# --- lookup3 (Jenkins' hashlittle), the checksum of version 2 HDF5 metadata ---

def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def lookup3(data, initval=0):
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & 0xFFFFFFFF
    k = 0
    M = 0xFFFFFFFF
    while length > 12:
        a = (a + int.from_bytes(data[k:k + 4], 'little')) & M
        b = (b + int.from_bytes(data[k + 4:k + 8], 'little')) & M
        c = (c + int.from_bytes(data[k + 8:k + 12], 'little')) & M
        a = (a - c) & M; a ^= _rot(c, 4); c = (c + b) & M
        b = (b - a) & M; b ^= _rot(a, 6); a = (a + c) & M
        c = (c - b) & M; c ^= _rot(b, 8); b = (b + a) & M
        a = (a - c) & M; a ^= _rot(c, 16); c = (c + b) & M
        b = (b - a) & M; b ^= _rot(a, 19); a = (a + c) & M
        c = (c - b) & M; c ^= _rot(b, 4); b = (b + a) & M
        length -= 12
        k += 12
    if length == 0:
        return c
    tail = data[k:k + length] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], 'little')) & M
    b = (b + int.from_bytes(tail[4:8], 'little')) & M
    c = (c + int.from_bytes(tail[8:12], 'little')) & M
    c ^= b; c = (c - _rot(b, 14)) & M
    a ^= c; a = (a - _rot(c, 11)) & M
    b ^= a; b = (b - _rot(a, 25)) & M
    c ^= b; c = (c - _rot(b, 16)) & M
    a ^= c; a = (a - _rot(c, 4)) & M
    b ^= a; b = (b - _rot(a, 14)) & M
    c ^= b; c = (c - _rot(b, 24)) & M
    return c


def u(data, at, size):
    return int.from_bytes(data[at:at + size], 'little')


# --- old-style (superblock 0, 8-byte offsets) groups: symbol tables ---

def root_symbol_table(data):
    """(B-tree, local heap) of the root group, from the superblock's cached symbol table entry."""
    assert data[:8] == b'\x89HDF\r\n\x1a\n' and data[8] == 0, 'expected superblock version 0 at byte 0'
    return u(data, 80, 8), u(data, 88, 8)


def heap_data(data, heap):
    assert data[heap:heap + 4] == b'HEAP'
    return u(data, heap + 24, 8)


def symbol_entries(data, btree, heap):
    """name → object header address for the links of an old-style group."""
    names = heap_data(data, heap)
    result = {}

    def node(address):
        assert data[address:address + 4] == b'TREE', address
        level = data[address + 5]
        entries = u(data, address + 6, 2)
        at = address + 24
        for _ in range(entries):
            at += 8  # key
            child = u(data, at, 8)
            at += 8
            if level > 0:
                node(child)
            else:
                snod(child)

    def snod(address):
        assert data[address:address + 4] == b'SNOD'
        count = u(data, address + 6, 2)
        at = address + 8
        for _ in range(count):
            offset, header = u(data, at, 8), u(data, at + 8, 8)
            end = data.index(b'\0', names + offset)
            result[data[names + offset:end].decode()] = header
            at += 40

    node(btree)
    return result


def v1_messages(data, header):
    """(type, flags, message start, body start, body size) of a version 1 object header's messages."""
    assert data[header] == 1, 'expected a version 1 object header'
    chunks = [(header + 16, u(data, header + 8, 4))]
    found = []
    for at, size in chunks:
        end = at + size
        while at + 8 <= end:
            kind, length, flags = u(data, at, 2), u(data, at + 2, 2), data[at + 4]
            found.append((kind, flags, at, at + 8, length))
            if kind == 0x10:
                chunks.append((u(data, at + 8, 8), u(data, at + 16, 8)))
            at += 8 + length
    return found


def v2_messages(data, header):
    """(type, flags, message start, body start, body size) of a version 2 header's first chunk, and the
    chunk's (start, end) for its checksum."""
    assert data[header:header + 4] == b'OHDR'
    flags = data[header + 5]
    at = header + 6
    if flags & 0x20:
        at += 16
    if flags & 0x10:
        at += 4
    width = 1 << (flags & 3)
    size = u(data, at, width)
    at += width
    start, end = at, at + size
    extra = 2 if flags & 0x04 else 0
    found = []
    while at + 4 + extra <= end:
        kind, length, mflags = data[at], u(data, at + 1, 2), data[at + 3]
        body = at + 4 + extra
        found.append((kind, mflags, at, body, length))
        at = body + length
    return found, (header, end)


def reseal_v2(data, header):
    _, (start, end) = v2_messages(data, header)
    data[end:end + 4] = struct.pack('<I', lookup3(bytes(data[start:end])))


def v2_headers(data):
    """Addresses of every version 2 object header (found by signature)."""
    at = data.find(b'OHDR')
    while at >= 0:
        if data[at + 4] == 2:
            yield at
        at = data.find(b'OHDR', at + 1)


# --- the files ---

def btree_copies(path, scale):
    groups, links = 1500 * scale, 8192
    with h5py.File(path, 'w', libver='earliest') as f:
        target = f.create_dataset('data', data=np.zeros(4, 'f4'))
        big = f.create_group('big')
        for i in range(links):
            big[f'link{i:05d}'] = target
        for i in range(groups):
            f.create_group(f'copy{i:05d}')
    data = bytearray(open(path, 'rb').read())
    btree, heap = root_symbol_table(data)
    headers = symbol_entries(data, btree, heap)

    def table(header):
        for kind, _, _, body, _ in v1_messages(data, header):
            if kind == 0x11:
                return body
        raise SystemExit('no symbol table message')

    big_table = table(headers['big'])
    big_btree, big_heap = u(data, big_table, 8), u(data, big_table + 8, 8)
    node = bytes(data[big_btree:big_btree + 544])
    for i in range(groups):
        body = table(headers[f'copy{i:05d}'])
        own_btree = u(data, body, 8)
        data[own_btree:own_btree + 544] = node  # each group's own copy of the big group's root node
        data[body + 8:body + 16] = struct.pack('<Q', big_heap)
    open(path, 'wb').write(data)


def dense_shared(path, scale):
    datasets, attributes = 1200 * scale, 4000
    with h5py.File(path, 'w', libver='latest') as f:
        owner = f.create_group('owner')
        value = np.frombuffer(bytes(range(256)) * 1, 'u1')
        for i in range(attributes):
            owner.attrs[f'attribute{i:05d}'] = value
        for i in range(datasets):
            d = f.create_dataset(f'd{i:05d}', data=np.zeros(2, 'f4'))
            for k in range(9):  # more than 8: the attributes move to dense storage
                d.attrs[f'a{k}'] = np.int8(k)
    data = bytearray(open(path, 'rb').read())
    infos = []
    for header in v2_headers(data):
        messages, _ = v2_messages(data, header)
        for kind, _, _, body, _ in messages:
            if kind == 0x15:
                flags = data[body + 1]
                at = body + 2 + (2 if flags & 1 else 0)
                heap, index = u(data, at, 8), u(data, at + 8, 8)
                records = u(data, index + 26, 8)
                infos.append((header, at, heap, index, records))
    owner_info = max(infos, key=lambda info: info[4])
    assert owner_info[4] == attributes, owner_info
    for header, at, _, _, _ in infos:
        if header == owner_info[0]:
            continue
        data[at:at + 16] = struct.pack('<QQ', owner_info[2], owner_info[3])
        reseal_v2(data, header)
    open(path, 'wb').write(data)


def v1_header(messages):
    """A version 1 object header holding `messages` (each from `v1_message`)."""
    blob = b''.join(messages)
    return struct.pack('<BBHII', 1, 0, len(messages), 1, len(blob)) + bytes(4) + blob


def v1_message(kind, payload, flags=0):
    return struct.pack('<HHB', kind, len(payload), flags) + bytes(3) + payload + bytes(-len(payload) % 8)


def shared_reference(address):
    """An attribute message that is a shared-message reference (version 2) to the header at `address`."""
    return v1_message(0x0C, bytes([2, 0]) + struct.pack('<Q', address), flags=0x02)


def continue_into(data, header, placeholder, chunk_address, chunk_length):
    """Turns the attribute called `placeholder` of the version 1 header into a continuation message."""
    for kind, _, start, body, length in v1_messages(data, header):
        if kind == 0x0C and placeholder.encode() + b'\0' in data[body:body + length]:
            assert length >= 16
            data[start:start + 2] = struct.pack('<H', 0x10)
            data[body:body + 16] = struct.pack('<QQ', chunk_address, chunk_length)
            return
    raise SystemExit(f'no attribute {placeholder!r} at {header}')


def shared_attribute(path, scale):
    datasets, references = 1000 * scale, 120
    with h5py.File(path, 'w', libver='earliest') as f:
        big = f.create_dataset('big', data=np.zeros(1, 'f4'))
        big.attrs['big'] = np.bytes_(b'x' * 60000)
        for i in range(datasets):
            d = f.create_dataset(f'd{i:05d}', data=np.zeros(1, 'f4'))
            d.attrs['placeholder'] = np.zeros(4, 'u8')  # becomes a continuation message
    data = bytearray(open(path, 'rb').read())
    btree, heap = root_symbol_table(data)
    headers = symbol_entries(data, btree, heap)
    reference = shared_reference(headers['big'])
    for i in range(datasets):
        # Each dataset's own continuation chunk of references to the one large attribute; the first
        # dataset's 40,000 would be 2.4 GB if each were copied.
        chunk = reference * (40_000 if i == 0 else references)
        address = len(data)
        data += chunk
        continue_into(data, headers[f'd{i:05d}'], 'placeholder', address, len(chunk))
    open(path, 'wb').write(data)


def shared_metadata(path, scale):
    references = 5000 * scale
    with h5py.File(path, 'w', libver='earliest') as f:
        big = f.create_dataset('big', data=np.zeros(1, 'f4'))
        big.attrs['note'] = np.bytes_(b'x' * 60000)
        f.attrs['placeholder'] = np.zeros(4, 'u8')  # becomes a continuation message
    data = bytearray(open(path, 'rb').read())
    btree, heap = root_symbol_table(data)
    target = symbol_entries(data, btree, heap)['big']
    root = u(data, 64, 8)
    chunk = shared_reference(target) * references
    address = len(data)
    data += chunk  # the root's metadata: thousands of 60 kB string values, all the same attribute
    continue_into(data, root, 'placeholder', address, len(chunk))
    open(path, 'wb').write(data)


def shared_overflow(path, scale):
    distinct, repeats, padding = 70_000, 30_000 * scale, 30_000
    with h5py.File(path, 'w', libver='earliest') as f:
        d = f.create_dataset('victim', data=np.zeros(1, 'f4'))
        d.attrs['placeholder'] = np.zeros(4, 'u8')  # becomes the continuation message
    data = bytearray(open(path, 'rb').read())
    btree, heap = root_symbol_table(data)
    victim = symbol_entries(data, btree, heap)['victim']

    # One attribute message body (version 3: no padding): a scalar 1-byte unsigned integer named "a".
    attribute = bytes([3, 0]) + struct.pack('<HHH', 2, 12, 4) + bytes([0]) + b'a\0' \
        + bytes([0x10, 0, 0, 0]) + struct.pack('<I', 1) + struct.pack('<HH', 0, 8) \
        + bytes([2, 0, 0, 0]) + b'\x07'
    tiny = []
    for _ in range(distinct):
        tiny.append(len(data))
        data += v1_header([v1_message(0x0C, attribute)])
    large = len(data)
    data += v1_header([v1_message(0x0C, attribute)] + [v1_message(0, b'')] * padding)
    chunk = b''.join(shared_reference(a) for a in tiny) + shared_reference(large) * repeats
    chunk_address = len(data)
    data += chunk
    continue_into(data, victim, 'placeholder', chunk_address, len(chunk))
    open(path, 'wb').write(data)


def fill(path, scale):
    elements = 750_000_000 if scale == 1 else scale * 1_000_000
    with h5py.File(path, 'w') as f:
        f.create_dataset('declared', shape=(elements,), dtype='<f4', fillvalue=1.5)


KINDS = {'btree-copies': btree_copies, 'dense-shared': dense_shared, 'shared-attribute': shared_attribute,
         'shared-overflow': shared_overflow, 'shared-metadata': shared_metadata, 'fill': fill}


def main(argv):
    args = list(argv)
    scale = 1
    if '--scale' in args:
        at = args.index('--scale')
        scale = int(args[at + 1])
        del args[at:at + 2]
    if len(args) != 2 or args[0] not in KINDS:
        sys.exit(__doc__)
    KINDS[args[0]](args[1], scale)


if __name__ == '__main__':
    main(sys.argv[1:])
