# keeps this sample suite independent of the repository's other settings
