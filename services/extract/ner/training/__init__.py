"""Training-time code of the offline recognizers: nothing here is imported at run time.

The extract service loads only the modules of :mod:`services.extract.ner` (the recognizers, their
featurizers and loaders); this package builds what they load and measures it. The rule:
``training/X.py`` builds what ``ner/X.py`` loads (``training/gazetteers.py`` writes
``model/gazetteers.tsv``, which ``ner/gazetteers.py`` reads; likewise ``clusters``).

* ``corpora`` — readers of the training data: CoNLL "word TAG" files, news JSON Lines;
* ``train`` — the CRF (python-crfsuite), c1/c2 tuning;
* ``neural_train`` — the BiLSTM-CRF (torch), export to numpy, ensemble files (``merge``);
* ``distill`` — silver data from a teacher ensemble, the shipped student recipe;
* ``embeddings`` — word2vec vectors (gensim), an input of ``neural_train``;
* ``clusters`` — word clusters and vectors (``model/clusters.tsv``, ``vectors.npy``);
* ``gazetteers`` — ``model/gazetteers.tsv`` from ANERGazet, NERAr, Babel, GeoNames;
* ``lexicon`` — the CRF's optional training lexicon;
* ``evaluate`` — entity-level precision/recall/F1 (``hadath eval-ner``).
"""
