throw new Error('cbor-extract is not installed (see package.json there)');
