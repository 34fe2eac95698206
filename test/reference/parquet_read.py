"""A small Parquet reader in Python's standard library, for the test that feeds an exported
verl file through scale-out/verl/reward.py (no Parquet reader installs from Debian's packages
here). It reads what `gapo export --format verl` writes: pages (v1 or v2), uncompressed or
Snappy-compressed, of
required, non-repeated columns, PLAIN or dictionary-encoded (RLE_DICTIONARY) byte arrays and
64-bit integers. Anything else is refused with its name, never guessed.

    /usr/bin/python3 parquet_read.py FILE.parquet COLUMN [COLUMN...]

prints one JSON object per row with the columns asked for (dotted paths: reward_model.ground_truth).
"""
import json
import struct
import sys


class Thrift:
    """Thrift's compact protocol, as Parquet's footer and page headers are written in it."""

    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def byte(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def zigzag(self):
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind):
        if kind in (1, 2):
            return kind == 1
        if kind == 3:
            return struct.unpack('b', bytes([self.byte()]))[0]
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            v = struct.unpack_from('<d', self.data, self.pos)[0]
            self.pos += 8
            return v
        if kind == 8:
            n = self.varint()
            v = bytes(self.data[self.pos:self.pos + n])
            self.pos += n
            return v
        if kind in (9, 10):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if element in (1, 2):  # booleans in a list are one byte each
                return [self.byte() == 1 for _ in range(size)]
            return [self.value(element) for _ in range(size)]
        if kind == 12:
            return self.struct()
        raise ValueError(f'thrift type {kind} is not read here')

    def struct(self):
        fields, last = {}, 0
        while True:
            header = self.byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind)


def snappy_decompress(block):
    """Snappy's raw block format (Parquet's SNAPPY codec): a varint length, then literals and copies."""
    reader = Thrift(block)
    length = reader.varint()
    out = bytearray()
    pos = reader.pos
    while pos < len(block):
        tag = block[pos]
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            pos += 1
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(block[pos:pos + extra], 'little')
                pos += extra
            n += 1
            out += block[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | block[pos + 1]
            pos += 2
        elif kind == 2:
            n = (tag >> 2) + 1
            offset = int.from_bytes(block[pos + 1:pos + 3], 'little')
            pos += 3
        else:
            n = (tag >> 2) + 1
            offset = int.from_bytes(block[pos + 1:pos + 5], 'little')
            pos += 5
        for _ in range(n):  # byte by byte: a copy may overlap what it writes
            out.append(out[-offset])
    if len(out) != length:
        raise ValueError(f'snappy: {len(out)} bytes, expected {length}')
    return bytes(out)


def rle_bitpacked(data, pos, end, width, count):
    """Parquet's RLE / bit-packed hybrid: `count` values of `width` bits."""
    out = []
    reader = Thrift(data, pos)
    while len(out) < count and reader.pos < end:
        header = reader.varint()
        if header & 1:
            groups = header >> 1
            nbytes = groups * width
            chunk = int.from_bytes(data[reader.pos:reader.pos + nbytes], 'little')
            reader.pos += nbytes
            mask = (1 << width) - 1
            out.extend((chunk >> (i * width)) & mask for i in range(groups * 8))
        else:
            run = header >> 1
            nbytes = (width + 7) // 8
            value = int.from_bytes(data[reader.pos:reader.pos + nbytes], 'little')
            reader.pos += nbytes
            out.extend([value] * run)
    return out[:count]


def plain(data, pos, kind, count):
    values = []
    for _ in range(count):
        if kind == 6:  # BYTE_ARRAY
            n = struct.unpack_from('<I', data, pos)[0]
            values.append(bytes(data[pos + 4:pos + 4 + n]))
            pos += 4 + n
        elif kind == 2:  # INT64
            values.append(struct.unpack_from('<q', data, pos)[0])
            pos += 8
        else:
            raise ValueError(f'physical type {kind} is not read here')
    return values


def read_column(data, meta):
    kind, codec = meta[1], meta[4]
    if codec not in (0, 1):
        raise ValueError(f'{".".join(p.decode() for p in meta[3])}: compression codec {codec} is not read here (only none and Snappy)')
    unpack = snappy_decompress if codec == 1 else bytes
    pos = meta.get(11, meta[9])  # the dictionary page comes first, when there is one
    remaining, dictionary, values = meta[5], None, []
    while remaining > 0:
        header = Thrift(data, pos)
        page = header.struct()
        body, size = header.pos, page[3]
        if page[1] == 2:  # dictionary page
            dictionary = plain(unpack(data[body:body + size]), 0, kind, page[7][1])
        elif page[1] in (0, 3):
            if page[1] == 3:
                v2 = page[8]
                count, encoding = v2[1], v2[4]
                if v2.get(5, 0) or v2.get(6, 0) or v2.get(2, 0):
                    raise ValueError('optional or repeated columns are not read here')
                # v2 compresses the values only (the levels, empty here, stay as they are).
                page_data = unpack(data[body:body + size]) if v2.get(7, True) else bytes(data[body:body + size])
            else:  # v1: required, non-repeated columns have no levels
                count, encoding = page[5][1], page[5][2]
                page_data = unpack(data[body:body + size])
            if encoding == 0:
                values += plain(page_data, 0, kind, count)
            elif encoding in (2, 8):  # PLAIN_DICTIONARY, RLE_DICTIONARY
                width = page_data[0]
                values += [dictionary[i] for i in rle_bitpacked(page_data, 1, len(page_data), width, count)]
            else:
                raise ValueError(f'encoding {encoding} is not read here')
            remaining -= count
        pos = body + size
    return values


def read(path, columns):
    data = open(path, 'rb').read()
    if data[:4] != b'PAR1' or data[-4:] != b'PAR1':
        raise ValueError(f'{path}: not a Parquet file')
    footer_length = struct.unpack('<I', data[-8:-4])[0]
    footer = Thrift(data, len(data) - 8 - footer_length).struct()
    rows = [dict() for _ in range(footer[3])]
    at = 0
    for group in footer[4]:
        count = group[3]
        for chunk in group[1]:
            meta = chunk[3]
            name = '.'.join(p.decode() for p in meta[3])
            if name not in columns:
                continue
            values = read_column(data, meta)
            for i, v in enumerate(values):
                rows[at + i][name] = v.decode('utf-8') if isinstance(v, bytes) else v
        at += count
    return rows


if __name__ == '__main__':
    for row in read(sys.argv[1], set(sys.argv[2:])):
        print(json.dumps(row))
