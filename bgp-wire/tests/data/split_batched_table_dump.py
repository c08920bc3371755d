import gzip, struct, sys
# Splits the batched TABLE_DUMP records of the early-2000 RIPE RIS dumps into RFC 6396 records:
# header Length counts the entries only; the body is view(2) seq(2) then entries
# prefix(4) len(1) status(1) time(4) peer(4) peer_as(2) attr_len(2) attrs.
data = gzip.open(sys.argv[1]).read()
out = bytearray(); off = 0
while off + 12 <= len(data):
    ts, typ, sub, ln = struct.unpack('>IHHI', data[off:off+12])
    body = data[off+12:off+12+ln+4]
    view_seq, entries = body[:4], body[4:]
    i = 0
    while i < len(entries):
        alen = struct.unpack('>H', entries[i+16:i+18])[0]
        e = entries[i:i+18+alen]
        out += struct.pack('>IHHI', ts, typ, sub, 4 + len(e)) + view_seq + e
        i += len(e)
    off += 12 + ln + 4
sys.stdout.buffer.write(out)
