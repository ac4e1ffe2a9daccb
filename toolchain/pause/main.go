// The pod sandbox's process on the real node: it holds the pod's namespaces and sleeps until
// it is told to stop. Built into a FROM-scratch image by `invoke toolchain`.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
