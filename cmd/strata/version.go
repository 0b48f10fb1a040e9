package main

// commit is set at build time with -ldflags "-X main.commit=..." (make
// release, the Dockerfile), beside main.version.
var commit string
