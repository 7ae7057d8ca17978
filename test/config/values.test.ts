import t from 'tap'
import { closestKey, editDistance } from '../../src/config/suggest.js'
import {
  addressesConflict,
  formatAddress,
  parseAddress,
  parseDuration,
  parseSize,
  type Parsed,
} from '../../src/config/values.js'

const value = <T>(r: Parsed<T>): T | string => (r.ok ? r.value : `ERR ${r.message}`)

t.test('parseDuration: Go syntax to whole milliseconds', async (t) => {
  const good: [string, number][] = [
    ['0', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['1.5s', 1500],
    ['.5s', 500],
    ['2000us', 2],
    ['1000000ns', 1],
    ['1000µs', 1],
  ]
  for (const [input, ms] of good) t.equal(value(parseDuration(input)), ms, input)

  const bad: [unknown, RegExp][] = [
    ['', /expected a duration/],
    ['30', /expected a duration/],
    [30, /expected a duration like .*got 30$/],
    ['30 s', /expected a duration/],
    ['1d', /expected a duration/],
    ['s', /expected a duration/],
    ['-5s', /must not be negative/],
    ['100us', /whole number of milliseconds/],
    [null, /got an empty value/],
    [true, /got true/],
  ]
  for (const [input, re] of bad) {
    const r = parseDuration(input)
    t.notOk(r.ok, `${String(input)} rejected`)
    if (!r.ok) t.match(r.message, re, String(input))
  }
})

t.test('parseSize: Kubernetes quantities and plain bytes', async (t) => {
  const good: [unknown, number][] = [
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['3Mi', 3 * 1024 * 1024],
    ['1Ki', 1024],
    ['500k', 500_000],
    ['2M', 2_000_000],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1048576', 1_048_576],
    [1048576, 1_048_576],
    [0, 0],
  ]
  for (const [input, bytes] of good) t.equal(value(parseSize(input)), bytes, String(input))

  const bad: [unknown, RegExp][] = [
    ['3MB', /no "B"/],
    ['64mi', /suffixes are Ki/],
    ['1 Gi', /suffixes are Ki/],
    ['1e6', /expected a size/],
    ['-1Mi', /expected a size/],
    [-5, /expected a size/],
    [1.5, /expected a size/],
    ['0.3', /whole number of bytes/],
    ['', /expected a size/],
    [null, /got an empty value/],
  ]
  for (const [input, re] of bad) {
    const r = parseSize(input)
    t.notOk(r.ok, `${String(input)} rejected`)
    if (!r.ok) t.match(r.message, re, String(input))
  }
})

t.test('parseAddress: IPv4, [IPv6], hostname; port 0-65535', async (t) => {
  t.same(value(parseAddress('127.0.0.1:10550')), { host: '127.0.0.1', port: 10550 })
  t.same(value(parseAddress('[::1]:443')), { host: '::1', port: 443 })
  t.same(value(parseAddress('[fd00::10]:0')), { host: 'fd00::10', port: 0 })
  t.same(value(parseAddress('cloud-shim.kube-system.svc:10560')), { host: 'cloud-shim.kube-system.svc', port: 10560 })
  t.same(value(parseAddress('localhost:65535')), { host: 'localhost', port: 65535 })

  const bad: [unknown, RegExp, object?][] = [
    ['10550', /expected "host:port", got "10550"$/],
    [10550, /expected "host:port", got 10550$/],
    [':10550', /host is missing.*0\.0\.0\.0:10550/],
    ['::1:443', /IPv6 addresses must be written in brackets/],
    ['[::1]443', /expected "host:port"/],
    ['[nope]:443', /not an IPv6 address/],
    ['host_name:80', /not an IPv4 address or hostname/],
    ['-bad.example:80', /not an IPv4 address or hostname/],
    ['1.2.3.4:65536', /port must be between 0 and 65535/],
    ['1.2.3.4:http', /port must be a number/],
    ['1.2.3.4:', /port must be a number/],
    ['1.2.3.4:0', /port must be between 1 and 65535/, { allowPortZero: false }],
    ['', /expected "host:port"/],
  ]
  for (const [input, re, opts] of bad) {
    const r = parseAddress(input, opts)
    t.notOk(r.ok, `${String(input)} rejected`)
    if (!r.ok) t.match(r.message, re, String(input))
  }
})

t.test('formatAddress round-trips, bracketing IPv6', async (t) => {
  for (const s of ['127.0.0.1:10550', '[::1]:443', 'example.com:1']) {
    const r = parseAddress(s)
    t.ok(r.ok)
    if (r.ok) t.equal(formatAddress(r.value), s)
  }
})

t.test('addressesConflict: same socket or wildcard overlap only', async (t) => {
  const a = (host: string, port: number) => ({ host, port })
  t.ok(addressesConflict(a('0.0.0.0', 10560), a('127.0.0.1', 10560)), 'wildcard overlaps')
  t.ok(addressesConflict(a('10.0.0.1', 80), a('10.0.0.1', 80)), 'identical')
  t.ok(addressesConflict(a('::', 80), a('10.0.0.1', 80)), 'IPv6 wildcard')
  t.notOk(addressesConflict(a('127.0.0.1', 10550), a('169.254.30.10', 10550)), 'different IPs, same port')
  t.notOk(addressesConflict(a('0.0.0.0', 10560), a('0.0.0.0', 10561)), 'different ports')
  t.notOk(addressesConflict(a('0.0.0.0', 0), a('0.0.0.0', 0)), 'ephemeral ports never collide')
})

t.test('suggestions: edit distance with transpositions, case-insensitive', async (t) => {
  t.equal(editDistance('enabel', 'enable'), 1)
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(closestKey('enabel', ['enable', 'server']), 'enable')
  t.equal(closestKey('tlsCAFile', ['tlsCaFile', 'tlsCertFile']), 'tlsCaFile')
  t.equal(closestKey('sever', ['server', 'serverName']), 'server')
  t.equal(closestKey('xyz', ['enable', 'server']), undefined, 'nothing close')
  t.equal(closestKey('ab', ['cd']), undefined, 'short keys need a near-exact match')
})
