// asecho is the AssemblyScript twin of plugins/echo for Airlock's
// benchmarks: the export "echo" takes {"message": "..."} and answers the
// same object. It uses the Extism AssemblyScript PDK (@extism/as-pdk) and no
// Airlock host function.
//
// Input is parsed strictly, like the Go SDK's tool.Handle: exactly one
// object whose only key is "message" with a string value, nothing after it.
// Anything else sets an Extism error and returns 1. The output is encoded
// the way Go's encoding/json encodes a string (", \, control characters,
// <, >, &, U+2028 and U+2029 escaped), so both tools answer byte for byte
// the same. Invalid UTF-8 inside the string is passed through unchanged
// (Go would replace it with U+FFFD).

import { Host, Memory } from "@extism/as-pdk";
import { error_set } from "@extism/as-pdk/lib/env";

// abort is linked in place of the AssemblyScript default, which imports
// env.abort from the host (Airlock links no "env" module). A failed
// assertion or an out-of-bounds access traps.
function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

class Parser {
  pos: i32 = 0;
  constructor(public buf: Uint8Array) {}

  ws(): void {
    while (this.pos < this.buf.length) {
      const c = this.buf[this.pos];
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.pos++;
    }
  }

  eat(c: u8): bool {
    this.ws();
    if (this.pos < this.buf.length && this.buf[this.pos] == c) {
      this.pos++;
      return true;
    }
    return false;
  }

  hex4(): i32 {
    if (this.pos + 4 > this.buf.length) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>this.buf[this.pos++];
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  // str parses one JSON string and returns its UTF-8 bytes, or null.
  str(): Array<u8> | null {
    if (!this.eat(0x22)) return null;
    const out = new Array<u8>();
    while (this.pos < this.buf.length) {
      const c = this.buf[this.pos++];
      if (c == 0x22) return out;
      if (c < 0x20) return null;
      if (c != 0x5c) {
        out.push(c);
        continue;
      }
      if (this.pos >= this.buf.length) return null;
      const e = this.buf[this.pos++];
      if (e == 0x22 || e == 0x5c || e == 0x2f) out.push(e);
      else if (e == 0x62) out.push(0x08);
      else if (e == 0x66) out.push(0x0c);
      else if (e == 0x6e) out.push(0x0a);
      else if (e == 0x72) out.push(0x0d);
      else if (e == 0x74) out.push(0x09);
      else if (e == 0x75) {
        let cp = this.hex4();
        if (cp < 0) return null;
        if (cp >= 0xd800 && cp < 0xdc00) {
          // a high surrogate must be followed by \u and a low one
          if (this.pos + 2 > this.buf.length || this.buf[this.pos] != 0x5c || this.buf[this.pos + 1] != 0x75) {
            cp = 0xfffd;
          } else {
            this.pos += 2;
            const lo = this.hex4();
            if (lo < 0) return null;
            cp = lo >= 0xdc00 && lo < 0xe000 ? 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00) : 0xfffd;
          }
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = 0xfffd;
        }
        utf8(out, cp);
      } else return null;
    }
    return null;
  }
}

function utf8(out: Array<u8>, cp: i32): void {
  if (cp < 0x80) {
    out.push(<u8>cp);
  } else if (cp < 0x800) {
    out.push(<u8>(0xc0 | (cp >> 6)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push(<u8>(0xe0 | (cp >> 12)));
    out.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  } else {
    out.push(<u8>(0xf0 | (cp >> 18)));
    out.push(<u8>(0x80 | ((cp >> 12) & 0x3f)));
    out.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  }
}

const HEX = "0123456789abcdef";

function pushASCII(out: Array<u8>, s: string): void {
  for (let i = 0; i < s.length; i++) out.push(<u8>s.charCodeAt(i));
}

function pushU(out: Array<u8>, c: i32): void {
  pushASCII(out, "\\u");
  out.push(<u8>HEX.charCodeAt((c >> 12) & 15));
  out.push(<u8>HEX.charCodeAt((c >> 8) & 15));
  out.push(<u8>HEX.charCodeAt((c >> 4) & 15));
  out.push(<u8>HEX.charCodeAt(c & 15));
}

// quote appends s as a JSON string encoded like Go's encoding/json.
function quote(out: Array<u8>, s: Array<u8>): void {
  out.push(0x22);
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c == 0x22 || c == 0x5c) {
      out.push(0x5c);
      out.push(c);
    } else if (c == 0x0a) pushASCII(out, "\\n");
    else if (c == 0x0d) pushASCII(out, "\\r");
    else if (c == 0x09) pushASCII(out, "\\t");
    else if (c < 0x20 || c == 0x3c || c == 0x3e || c == 0x26) pushU(out, c);
    else if (c == 0xe2 && i + 2 < s.length && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
      pushU(out, s[i + 2] == 0xa8 ? 0x2028 : 0x2029);
      i += 2;
    } else out.push(c);
  }
  out.push(0x22);
}

function fail(msg: string): i32 {
  error_set(Memory.allocateString(msg).offset);
  return 1;
}

export function echo(): i32 {
  const p = new Parser(Host.input());
  if (!p.eat(0x7b)) return fail("invalid input: want a JSON object");
  const key = p.str();
  if (key == null || !sameASCII(key, "message")) {
    return fail('invalid input: want the single field "message"');
  }
  if (!p.eat(0x3a)) return fail("invalid input: want ':'");
  const msg = p.str();
  if (msg == null) return fail("invalid input: message is not a string");
  if (!p.eat(0x7d)) return fail("invalid input: unknown field or trailing data");
  p.ws();
  if (p.pos != p.buf.length) return fail("invalid input: trailing data after JSON value");

  const out = new Array<u8>();
  pushASCII(out, '{"message":');
  quote(out, msg);
  out.push(0x7d);
  Host.output(Uint8Array.wrap(toBuffer(out)));
  return 0;
}

function sameASCII(a: Array<u8>, s: string): bool {
  if (a.length != s.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (<i32>a[i] != s.charCodeAt(i)) return false;
  }
  return true;
}

function toBuffer(a: Array<u8>): ArrayBuffer {
  const buf = new ArrayBuffer(a.length);
  const v = Uint8Array.wrap(buf);
  for (let i = 0; i < a.length; i++) v[i] = a[i];
  return buf;
}
