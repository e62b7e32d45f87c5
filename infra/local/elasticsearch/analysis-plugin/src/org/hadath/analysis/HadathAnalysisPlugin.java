/*
 * Hadath local-infrastructure analysis plugin.
 *
 * The Elasticsearch integ-test distribution (Maven Central) ships without the analysis-common
 * module. This plugin registers, under the STOCK names, the analysis components the Hadath index
 * template uses, so one template works both here and on the stock Elasticsearch image. Only
 * names the integ-test server does NOT already provide are registered (a duplicate name makes
 * the node fail at startup); the server itself already has the `stop` filter (with
 * `stopwords: _arabic_`) and the pre-configured `lowercase` filter.
 *
 * Behaviour follows the stock factories of modules/analysis-common:
 *   char_filter  mapping (mappings | mappings_path, "a => b" rules), pattern_replace
 *   filter       decimal_digit, arabic_normalization, persian_normalization, arabic_stem,
 *                stemmer_override (rules | rules_path, "a, b => c" rules),
 *                keyword_marker (keywords | keywords_path | keywords_pattern, ignore_case)
 *   tokenizer    whitespace (max_token_length), keyword (buffer_size)
 *   analyzer     arabic (stopwords, stopwords_path, stem_exclusion)
 * and, from the rest-root module (also missing), `GET /` and `HEAD /` (RootInfoHandler), so
 * the Python client's info() and ping() work.
 *
 * Built by shared/infra.py with `javac -cp '<es>/lib/*'` (no Maven build needed).
 */
package org.hadath.analysis;

import java.io.Reader;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.ar.ArabicAnalyzer;
import org.apache.lucene.analysis.ar.ArabicNormalizationFilter;
import org.apache.lucene.analysis.ar.ArabicStemFilter;
import org.apache.lucene.analysis.charfilter.MappingCharFilter;
import org.apache.lucene.analysis.charfilter.NormalizeCharMap;
import org.apache.lucene.analysis.core.DecimalDigitFilter;
import org.apache.lucene.analysis.core.KeywordTokenizer;
import org.apache.lucene.analysis.core.WhitespaceTokenizer;
import org.apache.lucene.analysis.fa.PersianNormalizationFilter;
import org.apache.lucene.analysis.miscellaneous.PatternKeywordMarkerFilter;
import org.apache.lucene.analysis.miscellaneous.SetKeywordMarkerFilter;
import org.apache.lucene.analysis.miscellaneous.StemmerOverrideFilter;
import org.apache.lucene.analysis.pattern.PatternReplaceCharFilter;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.regex.Regex;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.index.analysis.AbstractCharFilterFactory;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.AbstractTokenizerFactory;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.index.analysis.CharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingCharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingTokenFilterFactory;
import org.elasticsearch.index.analysis.PreBuiltAnalyzerProviderFactory;
import org.elasticsearch.index.analysis.PreConfiguredTokenFilter;
import org.elasticsearch.index.analysis.PreConfiguredTokenizer;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.indices.analysis.PreBuiltCacheFactory.CachingStrategy;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.RestHandler;

public class HadathAnalysisPlugin extends Plugin implements AnalysisPlugin, ActionPlugin {

    private volatile ClusterService clusterService;

    // ------------------------------------------------------------------ GET / and HEAD /

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService = services.clusterService();
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(RestHandlersServices services, Supplier<DiscoveryNodes> nodesInCluster,
                                                   Predicate<NodeFeature> clusterSupportsFeature) {
        return List.of(new RootInfoHandler(() -> clusterService));
    }

    // ------------------------------------------------------------------ registrations

    @Override
    public Map<String, AnalysisProvider<CharFilterFactory>> getCharFilters() {
        Map<String, AnalysisProvider<CharFilterFactory>> m = new TreeMap<>();
        m.put("mapping", AnalysisPlugin.requiresAnalysisSettings(
            (indexSettings, env, name, settings) -> new MappingCharFilterFactory(env, name, settings)));
        m.put("pattern_replace", AnalysisPlugin.requiresAnalysisSettings(
            (indexSettings, env, name, settings) -> new PatternReplaceCharFilterFactory(name, settings)));
        return m;
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        Map<String, AnalysisProvider<TokenFilterFactory>> m = new TreeMap<>();
        m.put("decimal_digit", simpleFilter(DecimalDigitFilter::new));
        m.put("arabic_normalization", simpleFilter(ArabicNormalizationFilter::new));
        m.put("persian_normalization", simpleFilter(PersianNormalizationFilter::new));
        m.put("arabic_stem", simpleFilter(ArabicStemFilter::new));
        m.put("stemmer_override", AnalysisPlugin.requiresAnalysisSettings(
            (indexSettings, env, name, settings) -> new StemmerOverrideTokenFilterFactory(env, name, settings)));
        m.put("keyword_marker", AnalysisPlugin.requiresAnalysisSettings(
            (indexSettings, env, name, settings) -> new KeywordMarkerTokenFilterFactory(env, name, settings)));
        return m;
    }

    @Override
    public List<PreConfiguredTokenFilter> getPreConfiguredTokenFilters() {
        List<PreConfiguredTokenFilter> l = new ArrayList<>();
        l.add(PreConfiguredTokenFilter.singleton("decimal_digit", true, DecimalDigitFilter::new));
        l.add(PreConfiguredTokenFilter.singleton("arabic_normalization", true, ArabicNormalizationFilter::new));
        l.add(PreConfiguredTokenFilter.singleton("persian_normalization", true, PersianNormalizationFilter::new));
        l.add(PreConfiguredTokenFilter.singleton("arabic_stem", false, ArabicStemFilter::new));
        return l;
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        Map<String, AnalysisProvider<TokenizerFactory>> m = new TreeMap<>();
        m.put("whitespace", (indexSettings, env, name, settings) -> new WhitespaceTokenizerFactory(name, settings));
        m.put("keyword", (indexSettings, env, name, settings) -> new KeywordTokenizerFactory(name, settings));
        return m;
    }

    @Override
    public List<PreConfiguredTokenizer> getPreConfiguredTokenizers() {
        List<PreConfiguredTokenizer> l = new ArrayList<>();
        l.add(PreConfiguredTokenizer.singleton("whitespace", WhitespaceTokenizer::new));
        l.add(PreConfiguredTokenizer.singleton("keyword", KeywordTokenizer::new));
        return l;
    }

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> m = new TreeMap<>();
        m.put("arabic", (indexSettings, env, name, settings) -> new ArabicAnalyzerProvider(env, name, settings));
        return m;
    }

    @Override
    public List<PreBuiltAnalyzerProviderFactory> getPreBuiltAnalyzerProviderFactories() {
        List<PreBuiltAnalyzerProviderFactory> l = new ArrayList<>();
        l.add(new PreBuiltAnalyzerProviderFactory("arabic", CachingStrategy.LUCENE, ArabicAnalyzer::new));
        return l;
    }

    // ------------------------------------------------------------------ token filters

    private static AnalysisProvider<TokenFilterFactory> simpleFilter(Function<TokenStream, TokenStream> create) {
        return (indexSettings, env, name, settings) -> new SimpleFilterFactory(name, create);
    }

    /** A parameterless filter that is also usable in normalizers (like the stock ones). */
    static final class SimpleFilterFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        private final Function<TokenStream, TokenStream> create;

        SimpleFilterFactory(String name, Function<TokenStream, TokenStream> create) {
            super(name);
            this.create = create;
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return create.apply(tokenStream);
        }
    }

    /**
     * Stock `stemmer_override`: `rules` (or `rules_path`) of "a, b => c" lines; each left-side
     * word is replaced by the right side and marked as a keyword, so a later stemmer leaves it.
     */
    static final class StemmerOverrideTokenFilterFactory extends AbstractTokenFilterFactory {
        private final StemmerOverrideFilter.StemmerOverrideMap overrideMap;

        StemmerOverrideTokenFilterFactory(org.elasticsearch.env.Environment env, String name, Settings settings) {
            super(name);
            List<String> rules = Analysis.getWordList(env, settings, "rules");
            if (rules == null) {
                throw new IllegalArgumentException("stemmer override filter requires either `rules` or `rules_path` to be configured");
            }
            StemmerOverrideFilter.Builder builder = new StemmerOverrideFilter.Builder(false);
            for (String rule : rules) {
                String[] sides = rule.split("=>", -1);
                if (sides.length != 2) {
                    throw new RuntimeException("Invalid Keyword override Rule:" + rule);
                }
                String override = sides[1].trim();
                if (override.isEmpty() || override.indexOf(',') != -1) {
                    throw new RuntimeException("Invalid Keyword override Rule:" + rule);
                }
                for (String key : sides[0].split(",", -1)) {
                    String k = key.trim();
                    if (k.isEmpty()) {
                        throw new RuntimeException("Invalid Keyword override Rule:" + rule);
                    }
                    builder.add(k, override);
                }
            }
            try {
                overrideMap = builder.build();
            } catch (java.io.IOException e) {
                throw new RuntimeException("failed to build stemmer override map", e);
            }
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new StemmerOverrideFilter(tokenStream, overrideMap);
        }
    }

    /** Stock `keyword_marker`: `keywords` / `keywords_path` (a set) or `keywords_pattern`; `ignore_case`. */
    static final class KeywordMarkerTokenFilterFactory extends AbstractTokenFilterFactory {
        private final CharArraySet keywordLookup;
        private final Pattern keywordPattern;

        KeywordMarkerTokenFilterFactory(org.elasticsearch.env.Environment env, String name, Settings settings) {
            super(name);
            boolean ignoreCase = settings.getAsBoolean("ignore_case", false);
            String patternString = settings.get("keywords_pattern");
            if (patternString != null) {
                if (settings.get("keywords") != null || settings.get("keywords_path") != null) {
                    throw new IllegalArgumentException("cannot specify both `keywords_pattern` and `keywords` or `keywords_path`");
                }
                keywordPattern = Pattern.compile(patternString);
                keywordLookup = null;
            } else {
                java.util.Set<?> words = Analysis.getWordSet(env, settings, "keywords");
                if (words == null) {
                    throw new IllegalArgumentException(
                        "keyword filter requires either `keywords`, `keywords_path`, or `keywords_pattern` to be configured");
                }
                keywordLookup = new CharArraySet(words, ignoreCase);
                keywordPattern = null;
            }
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            if (keywordPattern != null) {
                return new PatternKeywordMarkerFilter(tokenStream, keywordPattern);
            }
            return new SetKeywordMarkerFilter(tokenStream, keywordLookup);
        }
    }

    // ------------------------------------------------------------------ char filters

    /** Stock `mapping` char filter: `mappings` list or `mappings_path` file of "a => b" rules. */
    static final class MappingCharFilterFactory extends AbstractCharFilterFactory implements NormalizingCharFilterFactory {
        private static final Pattern RULE = Pattern.compile("(.*)\\s*=>\\s*(.*)\\s*$");
        private final NormalizeCharMap normMap;

        MappingCharFilterFactory(org.elasticsearch.env.Environment env, String name, Settings settings) {
            super(name);
            List<String> rules = Analysis.getWordList(env, settings, "mappings");
            if (rules == null) {
                throw new IllegalArgumentException("mapping requires either `mappings` or `mappings_path` to be configured");
            }
            NormalizeCharMap.Builder builder = new NormalizeCharMap.Builder();
            for (String rule : rules) {
                Matcher m = RULE.matcher(rule);
                if (!m.find()) {
                    throw new RuntimeException("Invalid Mapping Rule : [" + rule + "]");
                }
                String lhs = parseString(m.group(1).trim());
                String rhs = parseString(m.group(2).trim());
                if (lhs == null || rhs == null) {
                    throw new RuntimeException("Invalid Mapping Rule : [" + rule + "]. Illegal mapping.");
                }
                builder.add(lhs, rhs);
            }
            normMap = builder.build();
        }

        @Override
        public Reader create(Reader reader) {
            return new MappingCharFilter(normMap, reader);
        }

        /** Unescapes \\ \" \' \n \t \r \b \f and \\uXXXX like the stock factory. */
        static String parseString(String s) {
            StringBuilder out = new StringBuilder(s.length());
            int readPos = 0;
            int len = s.length();
            while (readPos < len) {
                char c = s.charAt(readPos++);
                if (c == '\\') {
                    if (readPos >= len) {
                        throw new RuntimeException("Invalid escaped char in [" + s + "]");
                    }
                    c = s.charAt(readPos++);
                    switch (c) {
                        case '\\': c = '\\'; break;
                        case '"': c = '"'; break;
                        case '\'': c = '\''; break;
                        case 'n': c = '\n'; break;
                        case 't': c = '\t'; break;
                        case 'r': c = '\r'; break;
                        case 'b': c = '\b'; break;
                        case 'f': c = '\f'; break;
                        case 'u':
                            if (readPos + 3 >= len) {
                                throw new RuntimeException("Invalid escaped char in [" + s + "]");
                            }
                            c = (char) Integer.parseInt(s.substring(readPos, readPos + 4), 16);
                            readPos += 4;
                            break;
                        default:
                            break;
                    }
                }
                out.append(c);
            }
            return out.toString();
        }
    }

    /** Stock `pattern_replace` char filter: `pattern`, `replacement` (default ""), `flags`. */
    static final class PatternReplaceCharFilterFactory extends AbstractCharFilterFactory implements NormalizingCharFilterFactory {
        private final Pattern pattern;
        private final String replacement;

        PatternReplaceCharFilterFactory(String name, Settings settings) {
            super(name);
            String sPattern = settings.get("pattern");
            if (sPattern == null || sPattern.isEmpty()) {
                throw new IllegalArgumentException("pattern is missing for [" + name + "] char filter of type 'pattern_replace'");
            }
            pattern = Regex.compile(sPattern, settings.get("flags"));
            replacement = settings.get("replacement", "");
        }

        @Override
        public Reader create(Reader reader) {
            return new PatternReplaceCharFilter(pattern, replacement, reader);
        }
    }

    // ------------------------------------------------------------------ tokenizers

    static final class WhitespaceTokenizerFactory extends AbstractTokenizerFactory {
        private final int maxTokenLength;

        WhitespaceTokenizerFactory(String name, Settings settings) {
            super(name);
            maxTokenLength = settings.getAsInt("max_token_length", StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH);
        }

        @Override
        public Tokenizer create() {
            return new WhitespaceTokenizer(TokenStream.DEFAULT_TOKEN_ATTRIBUTE_FACTORY, maxTokenLength);
        }
    }

    static final class KeywordTokenizerFactory extends AbstractTokenizerFactory {
        private final int bufferSize;

        KeywordTokenizerFactory(String name, Settings settings) {
            super(name);
            bufferSize = settings.getAsInt("buffer_size", 256);
        }

        @Override
        public Tokenizer create() {
            return new KeywordTokenizer(bufferSize);
        }
    }

    // ------------------------------------------------------------------ analyzers

    static final class ArabicAnalyzerProvider extends AbstractIndexAnalyzerProvider<ArabicAnalyzer> {
        private final ArabicAnalyzer analyzer;

        ArabicAnalyzerProvider(org.elasticsearch.env.Environment env, String name, Settings settings) {
            super(name);
            analyzer = new ArabicAnalyzer(
                Analysis.parseStopWords(env, settings, ArabicAnalyzer.getDefaultStopSet()),
                Analysis.parseStemExclusion(settings, CharArraySet.EMPTY_SET));
        }

        @Override
        public ArabicAnalyzer get() {
            return analyzer;
        }
    }
}
