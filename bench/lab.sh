# bench/lab.sh — sourced by bench/check.sh and .ci/release-check: a PKI made with openssl
# the way the NGINX docs' make_certs.sh does (root → intermediate → server; agent from the
# root), and a healthy mTLS management-plane endpoint on 127.0.0.1: a real nginx with
# `ssl_verify_client on`, HTTP/2 and the agent's gRPC locations proxied to an in-process
# gRPC backend (bench/labup, built on probes/nginxlab).
#
# The caller sets WORK (a temp dir it removes) and NAME (the server name), and stops
# LAB_PID on exit.

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
