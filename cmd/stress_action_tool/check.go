package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// check is one --expect-* assertion about the sandbox.
type check struct {
	name string
	run  func() error
}

// checksByName maps flag names (without "--") to their checks.
var checksByName = map[string]func() error{
	"expect-network-blocked": func() error { return networkBlocked("/proc/net", "/sys/class/net") },
	"expect-loopback":        loopbackWorks,
	"expect-localhost-hosts": func() error { return localhostInHosts("/etc/hosts") },
}

// networkBlocked passes when "lo" is the only interface that is up and no
// route leads anywhere but loopback. It only reads kernel state (procfs,
// sysfs, netlink): it must never send a packet, because the same action also
// runs on the host in the local baseline build.
func networkBlocked(procNet, sysNet string) error {
	ifaces, err := interfaceNames(procNet + "/dev")
	if err != nil {
		return err
	}
	var problems []string
	for _, name := range ifaces {
		if name == "lo" {
			continue
		}
		if interfaceUp(sysNet, name) {
			problems = append(problems, "interface "+name+" is up")
		}
	}
	v4, err := routeDevices(procNet+"/route", 0, true)
	if err != nil {
		return err
	}
	v6, err := routeDevices(procNet+"/ipv6_route", 9, false)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // no IPv6 in this kernel
		return err
	}
	for _, dev := range append(v4, v6...) {
		if dev != "lo" {
			problems = append(problems, "route via "+dev)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("network is not blocked: %s", strings.Join(slices.Compact(problems), ", "))
	}
	return nil
}

// interfaceNames lists the interfaces of this network namespace from
// /proc/net/dev, which follows the namespace even where sysfs is not mounted.
func interfaceNames(procNetDev string) ([]string, error) {
	data, err := os.ReadFile(procNetDev)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(name, "|") { // the two header lines
			continue
		}
		names = append(names, strings.TrimSpace(name))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("list interfaces: no interface in %s", procNetDev)
	}
	return names, nil
}

// interfaceUp reports whether the interface has IFF_UP. It asks netlink
// first, which always answers for this process's network namespace, and falls
// back to sysfs (which may show the namespace that mounted it). If neither
// answers it reports true, so the check fails closed.
func interfaceUp(sysNet, name string) bool {
	if iface, err := net.InterfaceByName(name); err == nil {
		return iface.Flags&net.FlagUp != 0
	}
	data, err := os.ReadFile(sysNet + "/" + name + "/flags")
	if err != nil {
		return true
	}
	flags, err := strconv.ParseUint(strings.TrimSpace(string(data)), 0, 32)
	return err != nil || flags&1 != 0 // IFF_UP
}

// routeDevices returns the device column of a procfs route table. The IPv4
// table has a header line and the device first; the IPv6 one has no header
// and the device in column 9.
func routeDevices(file string, column int, header bool) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	defer f.Close()
	var devs []string
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		if first && header {
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) <= column {
			continue
		}
		devs = append(devs, fields[column])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read routes from %s: %w", file, err)
	}
	return devs, nil
}

// loopbackWorks opens a listener on 127.0.0.1 and exchanges one byte with it.
func loopbackWorks() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loopback: listen: %w", err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte{'x'})
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("loopback: dial: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("loopback: read: %w", err)
	}
	if err := <-accepted; err != nil {
		return fmt.Errorf("loopback: accept: %w", err)
	}
	return nil
}

// localhostInHosts passes when a non-comment line of the hosts file maps
// 127.0.0.1 to the name localhost.
func localhostInHosts(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "127.0.0.1" && slices.Contains(fields[1:], "localhost") {
			return nil
		}
	}
	return fmt.Errorf("hosts: %s has no line mapping 127.0.0.1 to localhost", file)
}
