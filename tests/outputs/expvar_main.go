// expvar_main.go: the reference for /debug/vars.  A Go program that serves
// the standard expvar handler on 127.0.0.1 (a free port, written to stdout)
// and exits by itself after a minute.
package main

import (
	_ "expvar"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		time.Sleep(60 * time.Second)
		os.Exit(0)
	}()
	http.Serve(ln, nil)
}
