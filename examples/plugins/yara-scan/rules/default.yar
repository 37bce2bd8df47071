rule bitcoin_address
{
    meta:
        description = "A legacy or bech32 Bitcoin address"
    strings:
        $legacy = /\b[13][a-km-zA-HJ-NP-Z1-9]{25,34}\b/
        $bech32 = /\bbc1[ac-hj-np-z02-9]{25,87}\b/
    condition:
        any of them
}

rule iban_like
{
    meta:
        description = "Something shaped like an IBAN"
    strings:
        $iban = /\b[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{4}){3,7}\b/
    condition:
        $iban
}

rule pe_executable
{
    meta:
        description = "A Windows PE executable"
    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
}
