"""``python -m icibiome.demo``: make the synthetic demo (:mod:`icibiome.demo.make`)."""

from icibiome.demo.make import main

if __name__ == "__main__":
    raise SystemExit(main())
