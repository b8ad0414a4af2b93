package demolab

import (
	"fmt"
	"strings"
)

// What the lab says where NGINX would say it. The texts are NGINX's own
// (src/http/ngx_http_special_response.c, ngx_http_request.c), with
// server_tokens off so no version is claimed.
const (
	serverHeader = "nginx"
	crlf         = "\r\n"
	pageTail     = "<hr><center>nginx</center>" + crlf + "</body>" + crlf + "</html>" + crlf
	// docRoot is where NGINX looks for a file when no location matches (Debian's default).
	docRoot = "/usr/share/nginx/html"
)

// errorPage is NGINX's built-in HTML page for status code (495, 496 and 497 are sent as
// 400 with their own text).
func errorPage(code int) string {
	title, text := pageTitle(code)
	h1 := title
	if text != "" {
		h1 = "400 Bad Request"
	}
	var b strings.Builder
	b.WriteString("<html>" + crlf)
	b.WriteString("<head><title>" + title + "</title></head>" + crlf)
	b.WriteString("<body>" + crlf)
	b.WriteString("<center><h1>" + h1 + "</h1></center>" + crlf)
	if text != "" {
		b.WriteString("<center>" + text + "</center>" + crlf)
	}
	b.WriteString(pageTail)
	return b.String()
}

// pageTitle returns the <title> of NGINX's page for code and, for the 400 variants, the
// extra line of text.
func pageTitle(code int) (title, text string) {
	switch code {
	case 495:
		return "400 The SSL certificate error", "The SSL certificate error"
	case 496:
		return "400 No required SSL certificate was sent", "No required SSL certificate was sent"
	case 497:
		return "400 The plain HTTP request was sent to HTTPS port", "The plain HTTP request was sent to HTTPS port"
	case 400:
		return "400 Bad Request", ""
	case 404:
		return "404 Not Found", ""
	case 421:
		return "421 Misdirected Request", ""
	case 502:
		return "502 Bad Gateway", ""
	}
	return fmt.Sprintf("%d", code), ""
}

// wireStatus is the status NGINX sends for an internal code: 494–497 go out as 400.
func wireStatus(code int) int {
	if code >= 494 && code <= 497 {
		return 400
	}
	return code
}
