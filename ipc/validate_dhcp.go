package ipc

import (
	"fmt"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds of a DHCPConfig. The message size cap bounds the texts together
// already; these say what one part may be on its own.
const (
	maxDHCPHostsFiles = 1024
	maxDHCPTextLen    = MaxMessageSize // one text: never more than the message holds
)

// validateDHCPConfig checks the shape of a DHCPConfig; what the texts
// mean is dhcpd's parser's business (config.ParseText, ReadDHCPHosts),
// which treats them as untrusted.
func validateDHCPConfig(c *ipcpb.DHCPConfig) error {
	if err := noUnknown(c); err != nil {
		return err
	}
	if err := nonEmpty("options", c.GetOptions(), maxDHCPTextLen); err != nil {
		return err
	}
	files := c.GetHostsFiles()
	if len(files) > maxDHCPHostsFiles {
		return invalid("hosts_files: %d, at most %d", len(files), maxDHCPHostsFiles)
	}
	for i, f := range files {
		if err := validateNamedText(f); err != nil {
			return fmt.Errorf("hosts_files[%d]: %w", i, err)
		}
	}
	if e := c.GetEthers(); e != nil {
		return prefix("ethers", validateNamedText(e))
	}
	return nil
}

func validateNamedText(t *ipcpb.NamedText) error {
	if err := noUnknown(t); err != nil {
		return err
	}
	if err := nonEmpty("name", t.GetName(), maxTextLen); err != nil {
		return err
	}
	return maxLen("text", t.GetText(), maxDHCPTextLen)
}
