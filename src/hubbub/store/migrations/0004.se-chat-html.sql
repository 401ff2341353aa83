-- Stored message HTML in Stack Exchange chat's shapes (core/markup.py): <b> and <i> instead of
-- <strong> and <em>, tag badges with SE's inline style and no rel. Only markup hubbub generated
-- can match: whatever an author typed is stored escaped (&lt;strong&gt;). The event log keeps the
-- HTML each event was sent with.
-- depends: 0003.conversations

UPDATE messages SET content = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(content,
    '<strong>', '<b>'), '</strong>', '</b>'), '<em>', '<i>'), '</em>', '</i>'),
    ' rel="nofollow noopener noreferrer"><span class="ob-post-tag">',
    '><span class="ob-post-tag" style="background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;">'),
    ' rel="nofollow noopener noreferrer"><span class="ob-post-tag meta-tag">',
    '><span class="ob-post-tag" style="background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;">')
WHERE content LIKE '%<strong>%' OR content LIKE '%<em>%' OR content LIKE '%<span class="ob-post-tag%';

UPDATE revisions SET content = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(content,
    '<strong>', '<b>'), '</strong>', '</b>'), '<em>', '<i>'), '</em>', '</i>'),
    ' rel="nofollow noopener noreferrer"><span class="ob-post-tag">',
    '><span class="ob-post-tag" style="background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;">'),
    ' rel="nofollow noopener noreferrer"><span class="ob-post-tag meta-tag">',
    '><span class="ob-post-tag" style="background-color: #E0EAF1; color: #3E6D8E; border-color: #3E6D8E; border-style: solid;">')
WHERE content LIKE '%<strong>%' OR content LIKE '%<em>%' OR content LIKE '%<span class="ob-post-tag%';
