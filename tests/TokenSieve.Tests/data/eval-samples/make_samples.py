#!/usr/bin/env python3
"""Writes the tiny evaluation samples under this folder (run once; the outputs are committed).

Each sample follows its benchmark's public release format (docs/EVALUATION.md cites them) with a few
entries, including one malformed entry per file so the readers' file:line reporting is tested.
Only the standard library: pickle writes the RefCOCO refs files as Python's own pickler does
(protocol 2 for refcoco, protocol 0 -- Python 2's default -- for refcocog).
"""
import base64, json, os, pickle, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def png(w, h, seed):
    rows = b"".join(b"\x00" + bytes(((x * 7 + y * 13 + seed * 31 + c * 50) % 256) for x in range(w) for c in range(3)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# --- RefCOCO family (refer: refs(unc).p / refs(umd).p + instances.json) ---
images = [
    {"id": 9, "file_name": "COCO_train2014_000000000009.jpg", "width": 64, "height": 48},
    {"id": 25, "file_name": "COCO_train2014_000000000025.jpg", "width": 40, "height": 80},
]
annotations = [
    {"id": 101, "image_id": 9, "bbox": [8.0, 4.0, 16.0, 20.0], "category_id": 1},
    {"id": 102, "image_id": 9, "bbox": [30.5, 10.0, 20.0, 30.0], "category_id": 3},
    {"id": 201, "image_id": 25, "bbox": [0.0, 40.0, 40.0, 40.0], "category_id": 18},
]
def ref(ref_id, ann_id, image_id, split, sents):
    return {"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split, "category_id": 1,
            "file_name": "COCO_train2014_%012d_%d.jpg" % (image_id, ann_id),
            "sent_ids": [s[0] for s in sents],
            "sentences": [{"sent_id": i, "sent": t, "raw": t.capitalize() + ".", "tokens": t.split()} for i, t in sents]}
refs = [
    ref(1, 101, 9, "val", [(11, "man on the left"), (12, "left guy")]),
    ref(2, 102, 9, "testA", [(21, "woman in red")]),
    ref(3, 201, 25, "val", [(31, "the dog at the bottom")]),
    {"ref_id": 4, "split": "val"},                     # malformed: no ann_id / image_id / sentences
    ref(5, 999, 9, "val", [(51, "nothing there")]),    # annotation missing from instances.json
]
for folder, split_by, protocol in [("refcoco", "unc", 2), ("refcocog", "umd", 0)]:
    with open(path("refcoco", folder, "refs(%s).p" % split_by), "wb") as f:
        pickle.dump(refs, f, protocol=protocol)
    with open(path("refcoco", folder, "instances.json"), "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}, f)

# --- Visual Haystacks (VHs_qa/single_needle/VHs_large/visual_haystack_N.json) ---
def vhs(pos, neg, question, answer):
    return {"pos_image": pos, "neg_image": neg,
            "conversations": [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": answer}]}
haystack = [
    vhs(["val2017/000000000001.png"], ["val2017/000000000002.png"], "For the image with a dog, is there a frisbee?", "Yes"),
    vhs(["val2017/000000000003.png"], ["val2017/000000000001.png"], "For the image with a cat, is there a sofa?", "No"),
    {"pos_image": ["val2017/000000000001.png"], "conversations": [{"from": "human", "value": "?"}]},   # malformed: no answer
]
with open(path("visual_haystack", "single_needle", "VHs_large", "visual_haystack_2.json"), "w") as f:
    json.dump(haystack, f, indent=1)
with open(path("visual_haystack", "multi_needle", "visual_haystack_3.json"), "w") as f:
    json.dump([vhs(["val2017/000000000001.png", "val2017/000000000003.png"], ["val2017/000000000002.png"],
                   "For all images with a dog, is there a frisbee?", "No")], f, indent=1)
for i in (1, 2, 3):
    with open(path("visual_haystack", "coco", "val2017", "%012d.png" % i), "wb") as f:
        f.write(png(20 + 4 * i, 16 + 2 * i, i))

# --- VizWiz (Annotations/val.json) ---
def answers(*a):
    return [{"answer": x, "answer_confidence": "yes"} for x in a]
vizwiz = [
    {"image": "VizWiz_val_00000000.jpg", "question": "What is this?", "answers": answers(*(["soup"] * 7 + ["can", "unanswerable", "soup can"])),
     "answer_type": "other", "answerable": 1},
    {"image": "VizWiz_val_00000001.jpg", "question": "What color is this shirt?", "answers": answers(*(["unanswerable"] * 10)),
     "answer_type": "unanswerable", "answerable": 0},
    {"question": "no image here"},                      # malformed
]
with open(path("vizwiz", "val.json"), "w") as f:
    json.dump(vizwiz, f, indent=1)

# --- VQAv2 (v2_OpenEnded_mscoco_val2014_questions.json + v2_mscoco_val2014_annotations.json) ---
with open(path("vqav2", "v2_OpenEnded_mscoco_val2014_questions.json"), "w") as f:
    json.dump({"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "val2014", "license": {},
               "questions": [{"image_id": 42, "question": "How many dogs are there?", "question_id": 42000},
                             {"image_id": 42, "question": "Is it sunny?", "question_id": 42001},
                             {"image_id": 7, "question_id": 7000}]}, f)          # malformed: no question
with open(path("vqav2", "v2_mscoco_val2014_annotations.json"), "w") as f:
    json.dump({"annotations": [
        {"question_id": 42000, "image_id": 42, "answer_type": "number", "multiple_choice_answer": "2",
         "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(["2"] * 8 + ["two", "3"])]},
        {"question_id": 42001, "image_id": 42, "answer_type": "yes/no", "multiple_choice_answer": "yes",
         "answers": [{"answer": "yes", "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)]},
        {"image_id": 1}]}, f)                                                     # malformed: no question_id

# --- MMBench-CN (mmbench_dev_cn_20231003.tsv) ---
img = base64.b64encode(png(12, 10, 5)).decode()
rows = ["index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit",
        "0\t图中的动物是什么？\tnan\t猫\t狗\t鸟\tnan\tB\tattribute_recognition\t%s\tmmbench\tattribute\tnan\tdev" % img,
        "1000000\t图中的动物是什么？\tnan\t狗\t鸟\t猫\tnan\tA\tattribute_recognition\t0\tmmbench\tattribute\tnan\tdev",
        "1\t这张图片的主色调是什么？\t提示\t红\t绿\tnan\tnan\tA\tcolor\t%s\tmmbench\tattribute\tnan\tdev" % img,
        "2\t坏行"]                                                             # malformed: too few fields
with open(path("mmbench_cn", "mmbench_dev_cn_20231003.tsv"), "w", encoding="utf-8") as f:
    f.write("\n".join(rows) + "\n")
