# bench/lab.sh — sourced by bench/check.sh and .ci/release-check: a PKI made with openssl
# the way the NGINX docs' make_certs.sh does (root → intermediate → server; agent from the
# root), and a healthy mTLS management-plane endpoint on 127.0.0.1: a real nginx with
# `ssl_verify_client on`, HTTP/2 and the agent's gRPC locations proxied to an in-process
# gRPC backend (bench/labup, built on internal/nginxtest).
#
# It also holds what the scripts that time against the lab share: the tools they need
# (lab_require), the clean-up on exit (lab_cleanup) and the timing of alternating runs
# (lab_time, median_ms, minmax_ms).
#
# The caller sets WORK (a temp dir) and NAME (the server name), and calls lab_cleanup on
# exit, which stops LAB_PID and removes WORK (KEEP=1 keeps it).

# lab_require exits 3 unless go, openssl and nginx are installed; $1 names the script.
lab_require() {
	for tool in go openssl; do
		command -v "$tool" >/dev/null || { echo "$1: $tool not found" >&2; exit 3; }
	done
	if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
		echo "$1: nginx not installed (apt-get install nginx)" >&2
		exit 3
	fi
}

# lab_cleanup stops the lab (TERM, then KILL after 5 s) and removes $WORK unless KEEP is set.
lab_cleanup() {
	if [ -n "${LAB_PID:-}" ] && kill -0 "$LAB_PID" 2>/dev/null; then
		kill -TERM "$LAB_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$LAB_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$LAB_PID" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

# lab_time runs the command after $1 once (stdin closed, output and failure ignored) and
# appends how many nanoseconds it took to the file $1.
lab_time() {
	local out=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" </dev/null >/dev/null 2>&1 || true
	t1=$(date +%s%N)
	echo $((t1 - t0)) >>"$out"
}

# median_ms and minmax_ms summarise a file of lab_time's nanoseconds in milliseconds.
median_ms() { sort -n "$1" | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.1f", m/1e6}'; }
minmax_ms() { sort -n "$1" | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.1f–%.1f", lo/1e6, hi/1e6}'; }

# lab_pki makes the PKI in $WORK (RSA 2048 to keep generation quick).
lab_pki() {
	cd "$WORK"
	cat >ca.ext <<-EOF
		basicConstraints = critical, CA:true
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
	EOF
	cat >server.ext <<-EOF
		basicConstraints = CA:FALSE
		keyUsage = digitalSignature, keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:$NAME, IP:127.0.0.1
	EOF
	cat >agent.ext <<-EOF
		basicConstraints = CA:FALSE
		keyUsage = digitalSignature, keyEncipherment
		extendedKeyUsage = clientAuth
	EOF
	openssl req -new -x509 -nodes -newkey rsa:2048 -keyout ca.key -out ca.crt -days 30 \
		-subj "/O=mtls-doctor bench/CN=nms-ca" -addext "basicConstraints=critical,CA:true" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -new -nodes -newkey rsa:2048 -keyout ca_int.key -out ca_int.csr -subj "/O=mtls-doctor bench/CN=nms-int-ca"
	openssl x509 -req -in ca_int.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out ca_int.crt -days 30 -extfile ca.ext
	openssl req -new -nodes -newkey rsa:2048 -keyout server.key -out server.csr -subj "/O=mtls-doctor bench/CN=$NAME"
	openssl x509 -req -in server.csr -CA ca_int.crt -CAkey ca_int.key -CAcreateserial -out server.crt -days 30 -extfile server.ext
	openssl req -new -nodes -newkey rsa:2048 -keyout agent.key -out agent.csr -subj "/O=mtls-doctor bench/CN=agent-bench"
	openssl x509 -req -in agent.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out agent.crt -days 30 -extfile agent.ext
	cat ca_int.crt ca.crt >ca.pem              # the agent's tls.ca and nginx's ssl_client_certificate
	cat server.crt ca_int.crt >server-chain.pem # ssl_certificate with its intermediate
	chmod 600 ./*.key
	openssl verify -CAfile ca.pem server.crt agent.crt >/dev/null
}

# lab_up starts bench/labup (built as $1) with the PKI in $WORK/lab, waits up to 15 s for
# NGINX to accept, and sources lab.env: PORT, ADDR, AGENT_CONFIG.
lab_up() {
	mkdir "$WORK/lab"
	"$1" -dir "$WORK/lab" -server-name "$NAME" -max 15m \
		-server-cert "$WORK/server-chain.pem" -server-key "$WORK/server.key" -client-ca "$WORK/ca.pem" \
		-agent-cert "$WORK/agent.crt" -agent-key "$WORK/agent.key" -agent-ca "$WORK/ca.pem" \
		2>"$WORK/labup.log" &
	LAB_PID=$!
	for _ in $(seq 150); do
		[ -f "$WORK/lab/lab.env" ] && break
		kill -0 "$LAB_PID" 2>/dev/null || { cat "$WORK/labup.log" >&2; return 3; }
		sleep 0.1
	done
	[ -f "$WORK/lab/lab.env" ] || { echo "lab.sh: lab did not come up in 15 s" >&2; cat "$WORK/labup.log" >&2; return 3; }
	# shellcheck disable=SC1091
	. "$WORK/lab/lab.env"
}
