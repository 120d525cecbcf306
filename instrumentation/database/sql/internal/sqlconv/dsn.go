package sqlconv

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is what a data source name tells about the database called:
// db.namespace, server.address and server.port ("" and 0 when unknown).
type Endpoint struct {
	Namespace string
	Address   string
	Port      int
}

// Default ports, used when a DSN names a host but no port, as the
// drivers do.
const (
	postgresPort = 5432
	mysqlPort    = 3306
)

// ParseDSN returns the Endpoint a data source name for the given
// db.system.name designates. It never returns the user name or the
// password, and gives the zero Endpoint for a system it does not know or
// a DSN it cannot read.
//
//   - postgresql: the URL form postgres[ql]://[userinfo@][host[:port][,...]][/dbname][?params]
//     and the key=value form (host=... port=... dbname=..., values
//     possibly 'quoted'), as libpq and pgx read them; of a host list,
//     the first. A host starting with '/' or '@' is a Unix socket, which
//     leaves Address and Port unset.
//   - mysql: the go-sql-driver/mysql form
//     [user[:password]@][net[(addr)]]/dbname[?params]. With no address
//     the driver's default 127.0.0.1:3306 is reported; a unix socket
//     gives no address.
//   - sqlite: the database file as Namespace, without "file:" and
//     parameters; "" for an in-memory database.
func ParseDSN(system, dsn string) Endpoint {
	if dsn == "" {
		return Endpoint{}
	}
	switch system {
	case "postgresql":
		if rest, ok := cutPrefixFold(dsn, "postgresql://"); ok {
			return postgresURL(rest)
		}
		if rest, ok := cutPrefixFold(dsn, "postgres://"); ok {
			return postgresURL(rest)
		}
		return postgresKeywords(dsn)
	case "mysql":
		return mysqlDSN(dsn)
	case "sqlite":
		return Endpoint{Namespace: sqlitePath(dsn)}
	}
	return Endpoint{}
}

// postgresURL reads a libpq connection URI after its scheme.
func postgresURL(s string) Endpoint {
	// The user info ends at the last '@': libpq stops at the first '@'
	// before a '/', but a password holding an unescaped '/' or '@' must
	// not end up in the host or the database name. Parameters may hold
	// a password too (password=p@ss), so a '@' after a '?' makes the
	// URL unreadable: either '?' is in the password or '@' in the
	// parameters.
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		if strings.IndexByte(s[:i], '?') >= 0 {
			return Endpoint{}
		}
		s = s[i+1:]
	}
	s, query, _ := strings.Cut(s, "?")
	hosts, dbname, _ := strings.Cut(s, "/")
	host, port := firstHostPort(hosts)
	host = unescape(host)
	params := map[string]string{}
	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err == nil {
			if v, err := url.QueryUnescape(v); err == nil {
				params[k] = v
			}
		}
	}
	e := Endpoint{Namespace: unescape(dbname)}
	if v, ok := params["dbname"]; ok {
		e.Namespace = v
	}
	if v, ok := params["host"]; ok {
		host, port = firstHostPort(v)
	} else if v, ok := params["hostaddr"]; ok && host == "" {
		host, port = firstHostPort(v)
	}
	if v, ok := params["port"]; ok {
		port, _, _ = strings.Cut(v, ",")
	}
	e.Address, e.Port = postgresAddress(host, port)
	return e
}

// firstHostPort splits the first entry of a libpq host list,
// "h1:5432,[::1]:5433", into host and port.
func firstHostPort(hosts string) (host, port string) {
	h, _, _ := strings.Cut(hosts, ",")
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			host, rest := h[1:end], h[end+1:]
			port, _ := strings.CutPrefix(rest, ":")
			return host, port
		}
	}
	if strings.HasPrefix(h, "/") || strings.HasPrefix(h, "@") {
		return h, ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[:i], ":") {
		return h[:i], h[i+1:]
	}
	return h, ""
}

// postgresKeywords reads a libpq key=value connection string. A string
// libpq would reject gives the zero Endpoint.
func postgresKeywords(s string) Endpoint {
	kv := map[string]string{}
	for s = trimLeftSpace(s); s != ""; s = trimLeftSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return Endpoint{}
		}
		key := strings.TrimRight(s[:eq], " \t\n\r\f\v")
		if key == "" || strings.ContainsAny(key, " \t\n\r\f\v") {
			return Endpoint{}
		}
		val, rest, ok := keywordValue(trimLeftSpace(s[eq+1:]))
		if !ok {
			return Endpoint{}
		}
		kv[key] = val
		s = rest
	}
	host, port := firstHostPort(kv["host"])
	if host == "" {
		host, _ = firstHostPort(kv["hostaddr"])
	}
	if p, ok := kv["port"]; ok {
		port, _, _ = strings.Cut(p, ",")
	}
	e := Endpoint{Namespace: kv["dbname"]}
	e.Address, e.Port = postgresAddress(host, port)
	return e
}

// keywordValue reads a libpq value at the start of s, 'quoted' or bare,
// with backslash escapes, and returns it and what follows it; ok is false
// for an unclosed quote.
func keywordValue(s string) (val, rest string, ok bool) {
	var b strings.Builder
	quoted := strings.HasPrefix(s, "'")
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quoted && c == '\'':
			return b.String(), s[i+1:], true
		case !quoted && isSpace(c):
			return b.String(), s[i:], true
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", !quoted
}

// trimLeftSpace returns s without its leading blanks.
func trimLeftSpace(s string) string { return s[skip(s, 0, isSpace):] }

// postgresAddress turns a libpq host and port into server.address and
// server.port: none for a Unix socket or no host, 5432 by default.
func postgresAddress(host, port string) (string, int) {
	if host == "" || strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@") {
		return "", 0
	}
	if port == "" {
		return host, postgresPort
	}
	return host, parsePort(port)
}

// mysqlDSN reads a go-sql-driver/mysql DSN the way its ParseDSN does:
// the database name follows the last '/', and the user info ends at the
// last '@' before it.
func mysqlDSN(s string) Endpoint {
	slash := strings.LastIndexByte(s, '/')
	if slash < 0 {
		return Endpoint{}
	}
	dbname, _, _ := strings.Cut(s[slash+1:], "?")
	netAddr := s[:slash]
	if at := strings.LastIndexByte(netAddr, '@'); at >= 0 {
		netAddr = netAddr[at+1:]
	}
	network, addr := netAddr, ""
	if open := strings.IndexByte(netAddr, '('); open >= 0 {
		if !strings.HasSuffix(netAddr, ")") {
			return Endpoint{}
		}
		network, addr = netAddr[:open], netAddr[open+1:len(netAddr)-1]
	}
	e := Endpoint{Namespace: unescape(dbname)}
	switch network {
	case "", "tcp", "tcp4", "tcp6":
		if addr == "" {
			addr = "127.0.0.1"
		}
		if host, port, err := net.SplitHostPort(addr); err == nil {
			e.Address, e.Port = host, parsePort(port)
		} else {
			e.Address, e.Port = strings.Trim(addr, "[]"), mysqlPort
		}
	case "unix":
	default:
		// A dialer registered under another name (cloudsql, ...): its
		// address, if any, is all there is. Anything else is no network
		// name but a DSN without '@', whose parts may be user info.
		if strings.ContainsFunc(network, func(r rune) bool {
			return !(r == '_' || r == '-' || r == '.' || r < 0x80 && (isDigit(byte(r)) || isIdentStart(byte(r))))
		}) {
			return Endpoint{}
		}
		e.Address = addr
	}
	return e
}

// sqlitePath returns the database file of an SQLite DSN, a path or a
// "file:" URI, without parameters; "" for an in-memory database.
func sqlitePath(s string) string {
	path, query, _ := strings.Cut(s, "?")
	if rest, ok := cutPrefixFold(path, "file:"); ok {
		path, _, _ = strings.Cut(rest, "#")
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			// file://[localhost]/path: the authority is no part of the path.
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				path = rest[i:]
			} else {
				path = ""
			}
		}
		path = unescape(path)
	}
	if path == ":memory:" || path == "" {
		return ""
	}
	for kv := range strings.SplitSeq(query, "&") {
		if kv == "mode=memory" {
			return ""
		}
	}
	return path
}

// parsePort returns port as a number, or 0 if it is not a valid port.
func parsePort(port string) int {
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// unescape undoes URL percent-encoding, keeping s as is if it is not
// valid.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
