package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/stratamq/strata/auth"
)

// runPasswd is `strata passwd FILE USER`: it sets USER's password in the
// password file FILE (created if missing), which `strata serve
// --password-file` reads; `strata passwd -D FILE USER` deletes USER.
func runPasswd(args []string, stdout, stderr io.Writer) error {
	return passwd(args, os.Stdin, stdout, stderr)
}

// passwd is runPasswd reading the password from stdin: with no echo after
// prompts on stderr when stdin is a terminal, otherwise its first line.
func passwd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("passwd", stderr)
	del := fs.Bool("D", false, "delete USER from FILE instead (an error if FILE does not list USER)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: strata passwd FILE USER\n       strata passwd -D FILE USER")
		fmt.Fprintln(fs.Output(), "\nSets USER's password in FILE (one user:bcrypt-hash a line, created mode 0600 if missing),")
		fmt.Fprintln(fs.Output(), "the file 'strata serve --password-file' reads. The password is prompted for without echo")
		fmt.Fprintln(fs.Output(), "when stdin is a terminal, and otherwise read from the first line of stdin. New hashes use")
		fmt.Fprintln(fs.Output(), "bcrypt cost 10. -D deletes USER. FILE is replaced atomically (mode 0600) either way; send")
		fmt.Fprintln(fs.Output(), "'strata serve' SIGHUP to apply the change without dropping connections.")
		fs.PrintDefaults()
	}
	if err := parseQuiet(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: want FILE USER, got %d argument(s) (strata passwd --help)", errUsage, fs.NArg())
	}
	path, user := fs.Arg(0), fs.Arg(1)
	if *del {
		if err := auth.DeleteUser(path, user); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %q deleted from %s\n", user, path)
		return nil
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if len(password) == 0 {
		return errors.New("empty password")
	}
	if err := auth.SetPassword(path, user, password); err != nil {
		return err // names the file where it is about the file
	}
	fmt.Fprintf(stdout, "password for %q set in %s\n", user, path)
	return nil
}

// readPassword prompts twice without echo when stdin is a terminal, and
// otherwise reads stdin's first line, without its line ending.
func readPassword(stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPassword(int(f.Fd()), stderr)
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return []byte(line), nil
}

// promptPassword asks for the password and its confirmation on the
// terminal fd, echo off.
func promptPassword(fd int, stderr io.Writer) ([]byte, error) {
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprint(stderr, prompt)
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		return p, nil
	}
	p, err := ask("Password: ")
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty password")
	}
	confirm, err := ask("Confirm: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p, confirm) {
		return nil, errors.New("the passwords do not match")
	}
	return p, nil
}
