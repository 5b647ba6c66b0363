"""The dataset registry: what each dataset is, which files it has, and their checksums.

Every mirrored file was copied byte for byte from a public GitHub repository at a
pinned commit, so its download URL is that commit's raw-file URL and its sha256
is the sha256 of the mirror's copy. Files that exist only online carry the sha256
published for them where one is known (text8), else ``sha256=None`` and the
structural checks that are known (a minimum size, the first bytes). Every URL is https.

>>> spec = get_dataset("sst2")
>>> [f.relpath for f in spec.files]
['train.tsv', 'dev.tsv', 'test_labeled.tsv']
>>> spec.file("dev.tsv").size
94931
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .choices import closest


class RegistryLookupError(KeyError):
    """A name the registry does not know; prints as a sentence, not as ``KeyError``'s repr."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownDatasetError(RegistryLookupError):
    """An unknown dataset name; the message lists the valid names and the closest one."""


class UnknownFileError(RegistryLookupError):
    """A file that the dataset's registry entry does not list."""


def github_raw(repo: str, commit: str, path: str) -> str:
    """The raw-file URL of ``path`` in GitHub ``repo`` ("owner/name") at ``commit``.

    Example:
        >>> github_raw("clinc/oos-eval", "828f", "data/domains.json")
        'https://raw.githubusercontent.com/clinc/oos-eval/828f/data/domains.json'
    """
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _plain_http(url: str) -> bool:
    """True for an ``http://`` URL to another machine (loopback test servers are fine)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() == "http" and host not in {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes:
        relpath: path inside the dataset folder (``/``-separated), e.g. ``"ai/train.txt"``.
        url: where to download it from, or ``None`` if it cannot be downloaded.
        sha256: the expected hex digest, or ``None`` when no checksum is known.
        size: the expected size in bytes, or ``None`` when unknown.
        head: the bytes the file is known to start with (a cheap check for files without
            a checksum), or ``None``.
        min_size: the least size in bytes a complete copy has (for files without a checksum
            or exact size, so that a truncated copy is caught), or ``None``.

    Example:
        >>> FileSpec("a.txt", "https://example.org/a.txt", size=3).verified_by
        'size'
    """

    relpath: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    head: bytes | None = None
    min_size: int | None = None

    def __post_init__(self) -> None:
        if self.url is not None and self.sha256 is None and _plain_http(self.url):
            raise ValueError(
                f"file {self.relpath!r}: a plain-http URL without a sha256 cannot be trusted (the bytes can be "
                f"altered on the way and nothing would notice); use the https address of {self.relpath!r}, "
                "or give its sha256"
            )

    @property
    def verified_by(self) -> str:
        """What a copy of this file is checked against: ``"sha256"``, ``"size"``, ... or ``"nothing"``."""
        checks = [name for name in ("sha256", "size", "head", "min_size") if getattr(self, name) is not None]
        return " + ".join(checks) or "nothing"


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: the metadata of a dataset and its files.

    Example:
        >>> spec = DatasetSpec("toy", "A toy set.", "CC0", "Me 2024", "https://example.org",
        ...                    (FileSpec("a.txt", "https://example.org/a.txt"),))
        >>> spec.file("a.txt").url
        'https://example.org/a.txt'
    """

    name: str
    description: str
    license: str
    citation: str
    homepage: str
    files: tuple[FileSpec, ...]
    notes: str = ""

    def file(self, relpath: str) -> FileSpec:
        """The :class:`FileSpec` of ``relpath``; :class:`UnknownFileError` if not listed."""
        for spec in self.files:
            if spec.relpath == relpath:
                return spec
        known = [f.relpath for f in self.files]
        raise UnknownFileError(
            f"dataset {self.name!r} has no file {relpath!r}; its files are: {', '.join(known)}."
            + closest(relpath, known)
        )


def _mirrored(repo: str, commit: str, table: str) -> tuple[FileSpec, ...]:
    """FileSpecs from lines ``relpath  path-in-repo  size  sha256`` (one file per line)."""
    specs = []
    for line in table.strip().splitlines():
        relpath, source, size, sha256 = line.split()
        specs.append(FileSpec(relpath, github_raw(repo, commit, source), sha256, int(size)))
    return tuple(specs)


_SST2 = "eyalbd2/Reproducing-AutoPrompt", "6288fb5bec9c572f2492875ae0111df5b6daed11"
_AMAZON = "wkias/nlp-multi-domain-sentiment-classification", "7bee63a8af5ad0d1a7a14b7f4e84071a3fb80e85"
_CROSSNER = "zliucr/CrossNER", "2e7ba2a7798c961e3f29fbc51252c5a8d40224bf"
_WNUT17 = "leondz/emerging_entities_17", "e52a2d2a71ac1a051ca2d532eef28653c5c02603"
_CLINC = "clinc/oos-eval", "828f8093932c8fe6ca7936c3d2e52903b1c523de"
_WIKITEXT = "pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8"
_CHARRNN = "karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"

_A = "data_orginal"  # sic: the repository's folder name
_C = "ner_data"
_W = "word_language_model/data/wikitext-2"

_DATASETS = (
    DatasetSpec(
        "sst2", "Stanford Sentiment Treebank, binary (GLUE SST-2): movie-review phrases, 0=neg 1=pos.",
        "none stated by the authors; widely redistributed for research", "Socher et al. 2013 (EMNLP)",
        "https://nlp.stanford.edu/sentiment/",
        _mirrored(*_SST2, """
train.tsv         glue_data/SST-2/train_full.tsv   3806081 48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1
dev.tsv           glue_data/SST-2/dev.tsv            94931 54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0
test_labeled.tsv  glue_data/SST-2/test-labeled.tsv  194804 c0efc56ade6e0598d0f8daca1976e232aee0bcabca8e599341cad290d9d10b3c
"""),
        notes="test_labeled.tsv carries the original SST labels (GLUE's public test has none).",
    ),
    DatasetSpec(
        "amazon_multidomain", "Multi-Domain Sentiment Dataset v2.0 (labelled part): Amazon reviews of "
        "books, dvd, electronics and kitchen, 1,000 positive + 1,000 negative each.",
        "no license given (research dataset)", "Blitzer, Dredze & Pereira 2007 (ACL)",
        "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/",
        _mirrored(*_AMAZON, f"""
raw/books/positive.review        {_A}/books/positive.review        1520242 530dac5db5f99a90d6b5dda4480cdccde66642cbe1e1252eac7c659c9b0a4b9c
raw/books/negative.review        {_A}/books/negative.review        1558565 6f35234a65154facbe03bcef9b7e081f89bd1f45ef6ec67851c128ae8e58f705
raw/dvd/positive.review          {_A}/dvd/positive.review          1696767 fcf5207f79aa8af4910b5793c15fe90f25eb39501f9f4bdbd8f60a817224e28d
raw/dvd/negative.review          {_A}/dvd/negative.review          1685226 f0c2ebdfa1447161c7809a8e0cb8a26de69606d1235379938e61e785b865fa28
raw/electronics/positive.review  {_A}/electronics/positive.review  1105010 98daefad1056ec8d98fe910bdb50ae282695b9c2b89c2bc1513b9d2203b38a11
raw/electronics/negative.review  {_A}/electronics/negative.review  1113512 571287120d63e289753231804f33169b2ec4348ca6d24fa0d781a3a08e6376ff
raw/kitchen/positive.review      {_A}/kitchen/positive.review      1018981 90ebec2b5a6ac040e16836c32b8efbd92ce98804b916c6367f7ade3b8d536798
raw/kitchen/negative.review      {_A}/kitchen/negative.review      1019937 0ad1fa1f4539b47933fcef01be674b1246d1dc01403197c1439004cbaf4b543e
"""),
        notes="Only the raw pseudo-XML files are registered; the mirror's derived reviews.jsonl is not.",
    ),
    DatasetSpec(
        "crossner", "CrossNER: NER in five Wikipedia domains plus its CoNLL-2003 source domain (BIO tags).",
        "MIT (repository); Wikipedia text CC BY-SA; CoNLL-2003 text is Reuters RCV1",
        "Liu et al. 2021 (AAAI)", "https://github.com/zliucr/CrossNER",
        _mirrored(*_CROSSNER, f"""
conll2003/train.txt   {_C}/conll2003/train.txt   1821749 098791b165293cac55aa60ea5395b48ed441bc962c00278aa4789dce68624bf8
conll2003/dev.txt     {_C}/conll2003/dev.txt      456172 c8869cec4f419e7b635843aae285990581bf4685b7193c81696d87e1939f0c63
conll2003/test.txt    {_C}/conll2003/test.txt     416873 18d9d738defc506ebc5d6748cb580245327ef5c4357b026d7d9ba7c6e55fe841
politics/train.txt    {_C}/politics/train.txt      97283 1d8be31abb58463349496fe21b13d70114cf015294a9ff9cce77af9b83e8aa84
politics/dev.txt      {_C}/politics/dev.txt       300968 4f1f30eb832f4c5fe474f67ca45e875d863bddf0bbe432262d272ef13639fa8f
politics/test.txt     {_C}/politics/test.txt      325917 05cadc5e129d394f7f92b4a052cf4b6ea4c60878d32a833e500cf046c297455f
science/train.txt     {_C}/science/train.txt       78701 8f6a26096cc7be6790b5790bf5f5b5c8928d8b73d4632e7d45dc8bffad0504ac
science/dev.txt       {_C}/science/dev.txt        186031 87ec141c7b41b3b52ec861737c4030d65c6e53954ed3d8106baca8603bbf8f24
science/test.txt      {_C}/science/test.txt       220459 3616d59d4d2b9dbf4c1126f8d8ba47ff97886223c95f93649bfd527343e64ced
music/train.txt       {_C}/music/train.txt         40997 3774c38e0ebbeb4b98dbfae137071e4911e8764cdb7f247599009841f68d9fb5
music/dev.txt         {_C}/music/dev.txt          164737 e256f1949df52a61a3bb60095a0f41c1060843f1014b0f3d22d8371611b72e78
music/test.txt        {_C}/music/test.txt         208331 c66e345f959ac65593f76c6b1bd8c6d75f2a6f0bc197389b2e6700d101fd094c
literature/train.txt  {_C}/literature/train.txt    36623 0647e403a85040742c2f4041cf002146a81aa2e13adda19d0e82a8bcd493c18b
literature/dev.txt    {_C}/literature/dev.txt     142501 99281a51943cf7e3c2a58b3dc45c0e5ab6d329624ebf2ba6b4801c428396162f
literature/test.txt   {_C}/literature/test.txt    155256 77267f8b3e8afe993865c64cfc605f65671f6a0ac9cba65de970f12180fed20e
ai/train.txt          {_C}/ai/train.txt            40202 484217a660f52927bd5157507c22fc103b36306364329f62f80fc8acb897b187
ai/dev.txt            {_C}/ai/dev.txt             114516 b47ffda6de5901a454a873feac1bebe782e54ce7edf9deb729cab3d769212eee
ai/test.txt           {_C}/ai/test.txt            134455 7595ad386e0a98067100fe47f86811b38867a236011fee97cfaa90f778c37bcf
"""),
    ),
    DatasetSpec(
        "wnut17", "WNUT-17 emerging and rare entities: NER on social-media text (BIO tags, 6 types).",
        "CC BY 4.0", "Derczynski et al. 2017 (W-NUT)", "https://noisy-text.github.io/2017/emerging-rare-entities.html",
        _mirrored(*_WNUT17, """
train.conll  wnut17train.conll         493781 731820e13f71af324c6b55a1575ec2ce59fbaa2a0806f8f0400b98d56cd6a7a5
dev.conll    emerging.dev.conll        114749 e053b752b8155113ca66e7db08af5f2f5f43ab993694e4774f1ec5bad42312d8
test.conll   emerging.test.annotated   192425 2aa79b764e56ec9264a1b30fdd9b70195bd00ff400b62edd8f399d5f13c178f0
"""),
    ),
    DatasetSpec(
        "clinc150", "CLINC150 / OOS-eval: 150 intents in 10 domains plus out-of-scope queries.",
        "CC BY 3.0", "Larson et al. 2019 (EMNLP)", "https://github.com/clinc/oos-eval",
        _mirrored(*_CLINC, """
data_full.json  data/data_full.json  2495390 36923c3705a59e08fe9c3883d8bc2dd966ef93e22cb78ac41171782a698d56e0
domains.json    data/domains.json       3818 b947b579d3b8e74b06f93b01083d8efaff2888b43a3e362533bd88a6e1211b3a
"""),
    ),
    DatasetSpec(
        "wikitext2", "WikiText-2 (tokenised, <unk>-replaced Wikipedia articles), one paragraph per line.",
        "CC BY-SA 3.0", "Merity et al. 2016 (Pointer Sentinel Mixture Models)",
        "https://blog.salesforceresearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
        _mirrored(*_WIKITEXT, f"""
valid.txt  {_W}/valid.txt  1121681 f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8
test.txt   {_W}/test.txt   1256449 d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0
""") + (FileSpec("train.txt", github_raw(*_WIKITEXT, f"{_W}/train.txt"),
                 head=b" \n = Valkyria Chronicles III = \n", min_size=10_000_000),),
        notes="train.txt (10.8 MB) is online only: no checksum or exact size is known here, so a copy is "
        "checked by its first line and by its size being at least 10 MB (a truncated copy fails).",
    ),
    DatasetSpec(
        "tinyshakespeare", "tinyshakespeare: about 40,000 lines of Shakespeare (1,115,394 characters).",
        "public domain text; repository MIT", "Karpathy 2015 (char-rnn)", "https://github.com/karpathy/char-rnn",
        _mirrored(*_CHARRNN, """
input.txt  data/tinyshakespeare/input.txt  1115394 86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed
"""),
    ),
    DatasetSpec(
        "text8", "text8: the first 10^8 characters of a cleaned English Wikipedia dump (17 M words).",
        "derived from Wikipedia (CC BY-SA)", "Mahoney 2006 (Large Text Compression Benchmark)",
        "https://mattmahoney.net/dc/textdata.html",
        (FileSpec("text8.zip", "https://mattmahoney.net/dc/text8.zip",
                  "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232", 31_344_016, b"PK\x03\x04"),),
        notes="Online only, fetched over https and checked by the sha256 published for text8.zip "
        "(used by TensorFlow's word2vec tutorial, among others).",
    ),
)

REGISTRY: Mapping[str, DatasetSpec] = {spec.name: spec for spec in _DATASETS}
"""Every dataset :mod:`tlnlp.data` knows, by name."""


def dataset_names(registry: Mapping[str, DatasetSpec] | None = None) -> list[str]:
    """The registered dataset names, sorted.

    Example:
        >>> "crossner" in dataset_names()
        True
    """
    return sorted(REGISTRY if registry is None else registry)


def get_dataset(name: str, registry: Mapping[str, DatasetSpec] | None = None) -> DatasetSpec:
    """The registry entry of ``name``.

    Arguments:
        name: a dataset name, e.g. ``"sst2"``.
        registry: the mapping to look in (default :data:`REGISTRY`).

    Raises:
        UnknownDatasetError: the name is not registered; the message lists the valid names.

    Example:
        >>> get_dataset("clinc150").license
        'CC BY 3.0'
    """
    registry = REGISTRY if registry is None else registry
    if not isinstance(name, str):
        raise TypeError(
            f"a dataset name is a string, got {type(name).__name__} {name!r}; "
            f"valid names are: {', '.join(dataset_names(registry))}."
        )
    if name not in registry:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; valid names are: {', '.join(dataset_names(registry))}."
            + closest(name, registry)
        )
    return registry[name]
